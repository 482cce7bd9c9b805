package redisstore

// keys names every Redis key of a store. All keys start with the store's
// prefix p; nothing else in the package builds a key name. The Lua scripts
// (scripts.go) receive the *Prefix values below as ARGV where they must derive
// the key of an item or run they only learn inside the script; the suffixes
// used there are the constants below, so the layout is defined once.
//
// Layout (p is the prefix):
//
//	p run:<id>             hash   doc (run JSON without its runbook), rb (the runbook snapshot's JSON, written once at creation), rev, status, env, live
//	p audit:<id>           list   audit entry JSON, oldest first (append-only)
//	p msgs:<id>            hash   slot -> message ref
//	p runs:live            zset   run id, score = Created (unix ms)
//	p runs:done            zset   run id, score = Ended, else Updated (unix ms)
//	p lock:<env>:<service> string id of the run holding service in env (one deployment at a time per service and env)
//	p lock:<env>           string id of a run stored before services holding env (never taken any more; released when it ends)
//	p freeze:<env>         string freeze JSON: env frozen for every service
//	p freeze:<env>:<service> string freeze JSON: env frozen for one service
//	p current:<env>:<service> string the version last completed for service in env (Change.SetCurrent)
//	p write:<writeID>      string "1", expires after the write-id TTL
//	p once:<key>           string "1", expires after the ClaimOnce TTL
//	p windows              hash   window id -> window JSON
//	p windows:end          zset   window id, score = End() (unix ms)
//	p dueitem:<id>         hash   kind, doc (id/kind/due/payload JSON), claims, lease (unix ms, 0 = none), pl (the payload; items written before it have none)
//	p due:<kind>:ready     zset   unleased item ids, score = Due (unix ms)
//	p due:<kind>:leased    zset   leased item ids, score = lease expiry (unix ms)
//	p stats:runs           hash   run id -> stats index entry JSON (deploy.StatsEntry)
//	p stats:ended          zset   run id, score = the entry's Ended (unix ms)
//	p orgaudit             list   the org audit chain (freezes, windows): entry JSON, oldest first (append-only)
//	p orgaudit:head        string the Hash of the org chain's last entry (AppendOrg's compare-and-set)
//	p epoch                string the store's epoch marker (a random id and a time), set once if absent (deploy.Epoch)
//
// In Redis Cluster every key of a store must hash to one slot, so the prefix
// carries a hash tag, such as "{deploybot}:": Open adds one to a
// redis+cluster:// store's prefix (ClusterPrefix); a caller of New with a
// cluster client must pass a tagged prefix itself.
type keys struct{ p string }

// Suffixes of the per-kind due queues; the Lua scripts append them to
// dueQueuePrefix()+kind.
const (
	readySuffix  = ":ready"
	leasedSuffix = ":leased"
)

func (k keys) runPrefix() string         { return k.p + "run:" }
func (k keys) run(id string) string      { return k.runPrefix() + id }
func (k keys) audit(id string) string    { return k.p + "audit:" + id }
func (k keys) msgs(id string) string     { return k.p + "msgs:" + id }
func (k keys) epoch() string             { return k.p + "epoch" }
func (k keys) liveRuns() string          { return k.p + "runs:live" }
func (k keys) doneRuns() string          { return k.p + "runs:done" }
func (k keys) envLock(env string) string { return k.p + "lock:" + env }

// serviceLock, serviceFreeze and current join env and service with ":",
// which neither name may hold (runbook.EnvNamePattern,
// runbook.ServiceNamePattern), so they never meet an environment-only key.
func (k keys) serviceLock(service, env string) string { return k.p + "lock:" + env + ":" + service }
func (k keys) freeze(env string) string               { return k.p + "freeze:" + env }
func (k keys) serviceFreeze(service, env string) string {
	if service == "" {
		return k.freeze(env)
	}
	return k.p + "freeze:" + env + ":" + service
}
func (k keys) current(service, env string) string { return k.p + "current:" + env + ":" + service }
func (k keys) writeID(id string) string           { return k.p + "write:" + id }
func (k keys) once(key string) string             { return k.p + "once:" + key }
func (k keys) windows() string                    { return k.p + "windows" }
func (k keys) windowEnds() string                 { return k.p + "windows:end" }
func (k keys) statsRuns() string                  { return k.p + "stats:runs" }
func (k keys) statsEnded() string                 { return k.p + "stats:ended" }
func (k keys) orgAudit() string                   { return k.p + "orgaudit" }
func (k keys) orgHead() string                    { return k.p + "orgaudit:head" }

func (k keys) dueItemPrefix() string        { return k.p + "dueitem:" }
func (k keys) dueItem(id string) string     { return k.dueItemPrefix() + id }
func (k keys) dueQueuePrefix() string       { return k.p + "due:" }
func (k keys) dueReady(kind string) string  { return k.dueQueuePrefix() + kind + readySuffix }
func (k keys) dueLeased(kind string) string { return k.dueQueuePrefix() + kind + leasedSuffix }
