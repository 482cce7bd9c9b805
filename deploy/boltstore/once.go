package boltstore

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"deploybot/deploy"
)

// ScheduleOnce implements deploy.Store in one write transaction: the key
// and the items are written together or not at all.
func (s *Store) ScheduleOnce(ctx context.Context, key string, ttl time.Duration, items ...deploy.DueItem) (bool, error) {
	if err := deploy.CheckItems(items); err != nil {
		return false, fmt.Errorf("boltstore schedule once: %w", err)
	}
	first := false
	err := s.update(ctx, "schedule once "+key, func(tx *bolt.Tx) error {
		took, err := takeOnce(tx, key, ttl, s.clock.Now())
		if err != nil || !took {
			return err
		}
		if err := schedule(tx, items); err != nil {
			return err
		}
		first = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return first, nil
}
