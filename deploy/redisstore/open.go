package redisstore

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeouts Open gives the client when the URL does not set them (go-redis's
// own defaults are 5 s to dial and 3 s per read). Every command is also
// bounded by its context's deadline: Open's clients have
// ContextTimeoutEnabled, so a paused or unreachable Redis costs a caller no
// more than the deadline it set.
const (
	DefaultDialTimeout  = 2 * time.Second
	DefaultReadTimeout  = 2 * time.Second
	DefaultWriteTimeout = 2 * time.Second
)

// Topology is the kind of Redis deployment a URL names.
type Topology string

// The Redis deployments Open accepts.
const (
	// Single is one Redis server: redis://host:port/db (rediss:// for TLS).
	Single Topology = "single"
	// Sentinel is a master managed by Redis Sentinel, found through the
	// Sentinels: redis://sentinel-a:26379/db?master_name=NAME&addr=sentinel-b:26379.
	Sentinel Topology = "sentinel"
	// Cluster is a Redis Cluster, found through one or more of its nodes:
	// redis+cluster://node-a:6379?addr=node-b:6379 (rediss+cluster:// for TLS).
	Cluster Topology = "cluster"
)

// TopologyOf returns the deployment rawURL names, by its scheme and its
// master_name parameter, without checking the rest of it.
func TopologyOf(rawURL string) Topology {
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		return Single
	case strings.HasSuffix(u.Scheme, "+cluster"):
		return Cluster
	case u.Query().Has("master_name"):
		return Sentinel
	}
	return Single
}

// ClusterPrefix returns prefix with a Redis Cluster hash tag, so that every
// key of the store hashes to one slot (each transition is one Lua script
// touching several keys): "deploybot:" becomes "{deploybot}:". A prefix that
// already has a hash tag (a non-empty {…}) is returned as it is.
func ClusterPrefix(prefix string) string {
	if i := strings.IndexByte(prefix, '{'); i >= 0 {
		if j := strings.IndexByte(prefix[i+1:], '}'); j > 0 {
			return prefix
		}
	}
	tag := strings.TrimSuffix(prefix, ":")
	if tag == "" {
		tag = "deploybot"
	}
	return "{" + tag + "}:"
}

// Open connects to the Redis at rawURL and returns a store under prefix that
// owns the connection: Close closes it. It does not contact Redis; use Ping
// for that. rawURL takes one of three forms (see Topology):
//
//	redis://[user:password@]host:port[/db][?options]          one server
//	redis://[user:password@]sentinel:port[/db]?master_name=NAME[&addr=sentinel2:port…][&password=…]
//	redis+cluster://[user:password@]node:port[?addr=node2:port…]
//
// rediss:// (rediss+cluster://) connects with TLS. The options are go-redis's
// (redis.ParseURL, ParseFailoverURL, ParseClusterURL); in the Sentinel form
// the URL's user and password are the Sentinels' and the password parameter
// is the master's. A Cluster store's prefix is given a hash tag
// (ClusterPrefix). Unset dial, read and write timeouts get the Default*
// values, and every command honours its context's deadline.
func Open(rawURL, prefix string, opts ...Option) (*Store, error) {
	c, err := clientFor(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redisstore open: %w", err)
	}
	if TopologyOf(rawURL) == Cluster {
		prefix = ClusterPrefix(prefix)
	}
	s := New(c, prefix, opts...)
	s.owned = true
	return s, nil
}

// Prefix returns the key prefix the store uses (for a Cluster store, the
// prefix with its hash tag).
func (s *Store) Prefix() string { return s.k.p }

// clientFor builds the go-redis client for rawURL's topology.
func clientFor(rawURL string) (redis.UniversalClient, error) {
	switch TopologyOf(rawURL) {
	case Cluster:
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, err
		}
		u.Scheme = strings.TrimSuffix(u.Scheme, "+cluster")
		if u.Path != "" && u.Path != "/" && u.Path != "/0" {
			return nil, fmt.Errorf("a Redis Cluster has only database 0, not %s", u.Path)
		}
		u.Path = ""
		o, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, err
		}
		o.ContextTimeoutEnabled = true
		o.DialTimeout = orDefault(o.DialTimeout, DefaultDialTimeout)
		o.ReadTimeout = orDefault(o.ReadTimeout, DefaultReadTimeout)
		o.WriteTimeout = orDefault(o.WriteTimeout, DefaultWriteTimeout)
		return redis.NewClusterClient(o), nil
	case Sentinel:
		o, err := redis.ParseFailoverURL(rawURL)
		if err != nil {
			return nil, err
		}
		if o.MasterName == "" {
			return nil, fmt.Errorf("master_name is empty")
		}
		o.ContextTimeoutEnabled = true
		o.DialTimeout = orDefault(o.DialTimeout, DefaultDialTimeout)
		o.ReadTimeout = orDefault(o.ReadTimeout, DefaultReadTimeout)
		o.WriteTimeout = orDefault(o.WriteTimeout, DefaultWriteTimeout)
		return redis.NewFailoverClient(o), nil
	default:
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			if strings.Contains(err.Error(), "addr") {
				return nil, fmt.Errorf("%w (addr= lists more Sentinels and needs master_name=; a Redis Cluster URL starts with redis+cluster://)", err)
			}
			return nil, err
		}
		o.ContextTimeoutEnabled = true
		o.DialTimeout = orDefault(o.DialTimeout, DefaultDialTimeout)
		o.ReadTimeout = orDefault(o.ReadTimeout, DefaultReadTimeout)
		o.WriteTimeout = orDefault(o.WriteTimeout, DefaultWriteTimeout)
		return redis.NewClient(o), nil
	}
}

// orDefault returns def for a timeout the URL left unset (0); a negative
// one (the URL disabled it) stays as it is.
func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
