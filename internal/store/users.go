package store

import (
	"context"
	"reflect"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/tokend/tokend/internal/apitoken"
)

type userRow struct {
	ID        string    `gorm:"column:id;primaryKey"`
	Email     string    `gorm:"column:email"`
	Role      string    `gorm:"column:role"`
	Scopes    *string   `gorm:"column:scopes"`
	Service   bool      `gorm:"column:service"`
	Disabled  bool      `gorm:"column:disabled"`
	CreatedAt time.Time `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt time.Time `gorm:"column:updated_at;autoUpdateTime:false"`
	// ChangeSeq is the number of the user's latest change (see changes.go).
	ChangeSeq int64 `gorm:"column:change_seq"`
}

func (userRow) TableName() string { return "users" }

func newUserRow(u *apitoken.User) userRow {
	r := userRow{
		ID:        u.ID,
		Email:     u.Email,
		Role:      string(u.Role),
		Service:   u.Service,
		Disabled:  u.Disabled,
		CreatedAt: dbTime(u.CreatedAt),
		UpdatedAt: dbTime(u.UpdatedAt),
	}
	if u.Scopes != nil {
		s := strings.Join(u.Scopes, " ")
		r.Scopes = &s
	}
	return r
}

// normalized returns the row with its times as dbTime stores them, for
// comparing rows.
func (r userRow) normalized() userRow {
	r.CreatedAt, r.UpdatedAt = dbTime(r.CreatedAt), dbTime(r.UpdatedAt)
	return r
}

func (r *userRow) user() apitoken.User {
	u := apitoken.User{
		ID:        r.ID,
		Email:     r.Email,
		Role:      apitoken.Role(r.Role),
		Service:   r.Service,
		Disabled:  r.Disabled,
		CreatedAt: r.CreatedAt.UTC(),
		UpdatedAt: r.UpdatedAt.UTC(),
	}
	if r.Scopes != nil {
		u.Scopes = strings.Fields(*r.Scopes)
		if u.Scopes == nil {
			u.Scopes = []string{}
		}
	}
	return u
}

// Users stores users.
type Users struct{ s *Store }

// Create stores a new user. A user with the same email is a conflict.
func (us *Users) Create(ctx context.Context, u *apitoken.User) error {
	ctx, done, err := us.s.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	row := newUserRow(u)
	err = us.s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		e, _ := userEvent(tx.Statement.Context, nil, &row)
		return us.s.appendEvents(tx, e)
	})
	if apitoken.ErrorCode(us.s.wrap(ctx, err, "")) == apitoken.Conflict {
		return apitoken.Errorf(apitoken.Conflict, "a user with email %q already exists", u.Email)
	}
	return us.s.wrap(ctx, err, "")
}

// CreateFirst stores the user only if there are no users at all, and
// reports whether it did. Replicas starting together on an empty database
// create one first user between them.
func (us *Users) CreateFirst(ctx context.Context, u *apitoken.User) (bool, error) {
	created := false
	err := us.s.tx(ctx, func(tx *gorm.DB) error {
		if us.s.dialect == Postgres {
			if err := tx.Exec("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE").Error; err != nil {
				return err
			}
		}
		var n int64
		if err := tx.Model(&userRow{}).Count(&n).Error; err != nil || n > 0 {
			return err
		}
		row := newUserRow(u)
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		created = true
		e, _ := userEvent(tx.Statement.Context, nil, &row)
		return us.s.appendEvents(tx, e)
	})
	return created, us.s.wrap(ctx, err, "")
}

// Get returns the user with the id.
func (us *Users) Get(ctx context.Context, id string) (apitoken.User, error) {
	ctx, done, err := us.s.begin(ctx)
	if err != nil {
		return apitoken.User{}, err
	}
	defer done()
	var row userRow
	err = us.s.conn(ctx).Where("id = ?", id).Take(&row).Error
	if err != nil {
		return apitoken.User{}, us.s.wrap(ctx, err, "user not found")
	}
	return row.user(), nil
}

// ActiveAdmins returns the ids of the enabled admins, in id order, and
// locks their rows until the transaction ends: two changes that could each
// leave the other's admin as the last one then run one after the other.
func (us *Users) ActiveAdmins(ctx context.Context) ([]string, error) {
	var ids []string
	err := us.s.tx(ctx, func(tx *gorm.DB) error {
		return lockForUpdate(tx.Model(&userRow{})).
			Where("role = ? AND disabled = ?", string(apitoken.RoleAdmin), false).
			Order("id").Pluck("id", &ids).Error
	})
	return ids, us.s.wrap(ctx, err, "")
}

// List returns users ordered by creation, and how many there are in all.
func (us *Users) List(ctx context.Context, limit, offset int) ([]apitoken.User, int64, error) {
	ctx, done, err := us.s.begin(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer done()
	var total int64
	var rows []userRow
	db := us.s.conn(ctx)
	if err := db.Model(&userRow{}).Count(&total).Error; err != nil {
		return nil, 0, us.s.wrap(ctx, err, "")
	}
	err = db.Order("created_at, id").Limit(limit).Offset(offset).Find(&rows).Error
	if err != nil {
		return nil, 0, us.s.wrap(ctx, err, "")
	}
	users := make([]apitoken.User, len(rows))
	for i := range rows {
		users[i] = rows[i].user()
	}
	return users, total, nil
}

// Update changes the user with the id: fn edits the current state, read
// and written in one transaction. A change to anything but UpdatedAt takes
// the next change number; no change writes nothing.
func (us *Users) Update(ctx context.Context, id string, fn func(*apitoken.User) error) (apitoken.User, error) {
	var u apitoken.User
	err := us.s.tx(ctx, func(tx *gorm.DB) error {
		var old userRow
		if err := lockForUpdate(tx).Where("id = ?", id).Take(&old).Error; err != nil {
			return err
		}
		u = old.user()
		if err := fn(&u); err != nil {
			return err
		}
		row := newUserRow(&u)
		row.ChangeSeq, row.UpdatedAt = old.ChangeSeq, old.UpdatedAt
		if reflect.DeepEqual(row.normalized(), old.normalized()) {
			u = old.user()
			return nil
		}
		var err error
		if row.ChangeSeq, err = us.s.nextChange(tx); err != nil {
			return err
		}
		row.UpdatedAt = dbTime(u.UpdatedAt)
		if err := tx.Save(&row).Error; err != nil {
			return err
		}
		if e, ok := userEvent(tx.Statement.Context, &old, &row); ok {
			if err := us.s.appendEvents(tx, e); err != nil {
				return err
			}
		}
		u = row.user() // the state as stored, times at their stored precision
		return nil
	})
	if err != nil {
		return apitoken.User{}, us.s.wrap(ctx, err, "user not found")
	}
	return u, nil
}
