package boltstore

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"deploybot/deploy"
)

// orgHeadKey is the key of the org chain's head in bOrgHead.
var orgHeadKey = []byte("head")

// orgHeadDoc is the stored head of the org chain.
type orgHeadDoc struct {
	Hash string `json:"hash"`
	Len  int64  `json:"len"`
}

func orgHead(tx *bolt.Tx) (orgHeadDoc, error) {
	var h orgHeadDoc
	v := tx.Bucket(bOrgHead).Get(orgHeadKey)
	if v == nil {
		return h, nil
	}
	if err := json.Unmarshal(v, &h); err != nil {
		return h, fmt.Errorf("org head: %w", err)
	}
	return h, nil
}

// OrgHead implements deploy.Store.
func (s *Store) OrgHead(ctx context.Context) (deploy.OrgHead, error) {
	var h orgHeadDoc
	err := s.view(ctx, "org head", func(tx *bolt.Tx) (err error) {
		h, err = orgHead(tx)
		return err
	})
	if err != nil {
		return deploy.OrgHead{}, err
	}
	return deploy.OrgHead{Hash: h.Hash, Len: h.Len}, nil
}

// AppendOrg implements deploy.Store in one write transaction: the head is
// compared, the effect applied and the entry appended, or nothing.
func (s *Store) AppendOrg(ctx context.Context, c deploy.OrgChange) error {
	if err := deploy.CheckOrgChange(c); err != nil {
		return fmt.Errorf("boltstore org audit: %w", err)
	}
	return s.update(ctx, "org audit", func(tx *bolt.Tx) error {
		h, err := orgHead(tx)
		if err != nil {
			return err
		}
		if h.Hash == c.Entry.Hash {
			return nil // applied before
		}
		if h.Hash != c.Entry.Prev {
			return deploy.ErrConflict
		}
		switch {
		case c.SetFreeze != nil:
			if err := put(tx.Bucket(bFreezes), string(svcKey(c.SetFreeze.Service, c.SetFreeze.Env)), c.SetFreeze); err != nil {
				return err
			}
		case c.DeleteFreeze != nil:
			b, k := tx.Bucket(bFreezes), svcKey(c.DeleteFreeze.Service, c.DeleteFreeze.Env)
			if b.Get(k) == nil {
				return deploy.ErrNotFound
			}
			if err := b.Delete(k); err != nil {
				return err
			}
		case c.PutWindow != nil:
			if err := put(tx.Bucket(bWindows), c.PutWindow.ID, c.PutWindow); err != nil {
				return err
			}
		case c.DeleteWindow != "":
			b := tx.Bucket(bWindows)
			if b.Get([]byte(c.DeleteWindow)) == nil {
				return deploy.ErrNotFound
			}
			if err := b.Delete([]byte(c.DeleteWindow)); err != nil {
				return err
			}
		}
		ab := tx.Bucket(bOrgAudit)
		seq, err := ab.NextSequence()
		if err != nil {
			return err
		}
		if err := put(ab, string(seqKey(seq)), c.Entry); err != nil {
			return err
		}
		return put(tx.Bucket(bOrgHead), string(orgHeadKey), orgHeadDoc{Hash: c.Entry.Hash, Len: h.Len + 1})
	})
}

// OrgAudit implements deploy.Store: the entries and the head, read in one transaction.
func (s *Store) OrgAudit(ctx context.Context) (deploy.OrgLog, error) {
	l := deploy.OrgLog{Entries: []deploy.AuditEntry{}}
	err := s.view(ctx, "org audit", func(tx *bolt.Tx) error {
		h, err := orgHead(tx)
		if err != nil {
			return err
		}
		l.Head = h.Hash
		return tx.Bucket(bOrgAudit).ForEach(func(_, v []byte) error {
			var e deploy.AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("entry %d: %w", len(l.Entries)+1, err)
			}
			l.Entries = append(l.Entries, e)
			return nil
		})
	})
	if err != nil {
		return deploy.OrgLog{}, err
	}
	return l, nil
}
