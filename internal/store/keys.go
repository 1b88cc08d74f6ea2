package store

import (
	"context"
	"crypto/ed25519"
	"time"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/keys"
)

type keyRow struct {
	ID        string     `gorm:"column:id;primaryKey"`
	PublicKey []byte     `gorm:"column:public_key"`
	SealedKey []byte     `gorm:"column:sealed_key"`
	Status    string     `gorm:"column:status"`
	CreatedAt time.Time  `gorm:"column:created_at;autoCreateTime:false"`
	RotatedAt *time.Time `gorm:"column:rotated_at"`
	RetireAt  *time.Time `gorm:"column:retire_at"`
	RetiredAt *time.Time `gorm:"column:retired_at"`
	// ChangeSeq is the number of the key's latest change (see changes.go).
	ChangeSeq int64 `gorm:"column:change_seq"`
}

func (keyRow) TableName() string { return "signing_keys" }

func newKeyRow(r *keys.Record) keyRow {
	return keyRow{
		ID:        r.ID,
		PublicKey: r.PublicKey,
		SealedKey: r.SealedKey,
		Status:    string(r.Status),
		CreatedAt: dbTime(r.CreatedAt),
		RotatedAt: dbTimePtr(r.RotatedAt),
		RetireAt:  dbTimePtr(r.RetireAt),
		RetiredAt: dbTimePtr(r.RetiredAt),
	}
}

func (r *keyRow) record() keys.Record {
	return keys.Record{
		ID:        r.ID,
		PublicKey: ed25519.PublicKey(r.PublicKey),
		SealedKey: r.SealedKey,
		Status:    keys.Status(r.Status),
		CreatedAt: r.CreatedAt.UTC(),
		RotatedAt: utcPtr(r.RotatedAt),
		RetireAt:  utcPtr(r.RetireAt),
		RetiredAt: utcPtr(r.RetiredAt),
	}
}

// Keys stores signing keys. It implements keys.Store.
type Keys struct{ s *Store }

var _ keys.Store = (*Keys)(nil)

// ListKeys returns every key, oldest first.
func (ks *Keys) ListKeys(ctx context.Context) ([]keys.Record, error) {
	ctx, done, err := ks.s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var rows []keyRow
	if err := ks.s.conn(ctx).Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, ks.s.wrap(ctx, err, "")
	}
	recs := make([]keys.Record, len(rows))
	for i := range rows {
		recs[i] = rows[i].record()
	}
	return recs, nil
}

// ActiveKey returns the active key.
func (ks *Keys) ActiveKey(ctx context.Context) (keys.Record, error) {
	ctx, done, err := ks.s.begin(ctx)
	if err != nil {
		return keys.Record{}, err
	}
	defer done()
	var row keyRow
	err = ks.s.conn(ctx).Where("status = ?", keys.Active).Take(&row).Error
	if err != nil {
		return keys.Record{}, ks.s.wrap(ctx, err, "no active signing key")
	}
	return row.record(), nil
}

// InsertActiveKey stores the first active key; if another key is active
// already, it returns a conflict error.
func (ks *Keys) InsertActiveKey(ctx context.Context, r keys.Record) error {
	err := ks.s.tx(ctx, func(tx *gorm.DB) error {
		row := newKeyRow(&r)
		var err error
		if row.ChangeSeq, err = ks.s.nextChange(tx); err != nil {
			return err
		}
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		return ks.s.appendEvents(tx, keyEvent(tx.Statement.Context, row.ID, "", row.Status, row.CreatedAt))
	})
	err = ks.s.wrap(ctx, err, "")
	if apitoken.ErrorCode(err) == apitoken.Conflict {
		return apitoken.Errorf(apitoken.Conflict, "another signing key is active")
	}
	return err
}

// RotateKey makes the active key retiring and stores next as the active
// key, in one transaction. The retiring key verifies until retireAt, or
// until the latest expiration of a token it signed, whichever is later.
func (ks *Keys) RotateKey(ctx context.Context, next keys.Record, rotatedAt, retireAt time.Time) error {
	err := ks.s.tx(ctx, func(tx *gorm.DB) error {
		var active keyRow
		if err := lockForUpdate(tx).Where("status = ?", keys.Active).Take(&active).Error; err != nil {
			return err
		}
		// The latest expiration of a token the key signed; a plain column,
		// not MAX(), so that SQLite reports its type and it scans as a time.
		var latest []time.Time
		err := tx.Model(&tokenRow{}).Where("key_id = ?", active.ID).
			Order("expiration DESC").Limit(1).Pluck("expiration", &latest).Error
		if err != nil {
			return err
		}
		until := dbTime(retireAt)
		if len(latest) == 1 && latest[0].After(until) {
			until = dbTime(latest[0])
		}
		seq, err := ks.s.nextChange(tx)
		if err != nil {
			return err
		}
		err = tx.Model(&keyRow{}).Where("id = ?", active.ID).Updates(map[string]any{
			"status":     string(keys.Retiring),
			"rotated_at": dbTime(rotatedAt),
			"retire_at":  until,
			"change_seq": seq,
		}).Error
		if err != nil {
			return err
		}
		row := newKeyRow(&next)
		row.ChangeSeq = seq
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		kctx := tx.Statement.Context
		return ks.s.appendEvents(tx, keyEvent(kctx, active.ID, active.Status, string(keys.Retiring), dbTime(rotatedAt)),
			keyEvent(kctx, row.ID, "", row.Status, dbTime(rotatedAt)))
	})
	return ks.s.wrap(ctx, err, "no active signing key")
}

// RetireKey marks a key retired. Retiring the active key is a conflict: a
// new key must take its place first.
func (ks *Keys) RetireKey(ctx context.Context, id string, at time.Time) error {
	err := ks.s.tx(ctx, func(tx *gorm.DB) error {
		var row keyRow
		if err := lockForUpdate(tx).Where("id = ?", id).Take(&row).Error; err != nil {
			return err
		}
		switch keys.Status(row.Status) {
		case keys.Active:
			return apitoken.Errorf(apitoken.Conflict, "signing key %s is active; rotate the keys first", id)
		case keys.Retired:
			return nil
		}
		seq, err := ks.s.nextChange(tx)
		if err != nil {
			return err
		}
		err = tx.Model(&keyRow{}).Where("id = ?", id).Updates(map[string]any{
			"status":     string(keys.Retired),
			"retired_at": dbTime(at),
			"change_seq": seq,
		}).Error
		if err != nil {
			return err
		}
		return ks.s.appendEvents(tx, keyEvent(tx.Statement.Context, id, row.Status, string(keys.Retired), dbTime(at)))
	})
	return ks.s.wrap(ctx, err, "signing key not found")
}
