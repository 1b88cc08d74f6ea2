package store_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tokend/tokend/internal/apitoken"
	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
)

func TestUsersCreateAndGet(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		st := MustOpenDB(t, dialect)
		ctx := context.Background()
		tests := []struct {
			name string
			user apitoken.User
		}{
			{"a member with the default scopes", apitoken.User{Role: apitoken.RoleMember}},
			{"an admin service user with explicit scopes", apitoken.User{Role: apitoken.RoleAdmin, Service: true, Scopes: []string{"users", "customers"}}},
			{"a disabled user with no scopes at all", apitoken.User{Role: apitoken.RoleMember, Disabled: true, Scopes: []string{}}},
		}
		for _, tt := range tests {
			t.Run(tt.name+" reads back as written", func(t *testing.T) {
				u := tt.user
				u.ID, u.Email = uuid.NewString(), uuid.NewString()+"@example.com"
				u.CreatedAt, u.UpdatedAt = base, base.Add(time.Hour)
				MustCreateUser(t, st, u)

				got, err := st.Users.Get(ctx, u.ID)
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				want := u
				want.CreatedAt, want.UpdatedAt = ms(u.CreatedAt), ms(u.UpdatedAt)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("Get =\n%#v\nwant\n%#v", got, want)
				}
				if (got.Scopes == nil) != (u.Scopes == nil) {
					t.Fatalf("Scopes = %#v, want %#v: no list and an empty list differ", got.Scopes, u.Scopes)
				}
				if got.CreatedAt.Location() != time.UTC {
					t.Fatalf("CreatedAt is in %v, want UTC", got.CreatedAt.Location())
				}
			})
		}
	})
}

func TestUsersCreateRefusesDuplicates(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		st := MustOpenDB(t, dialect)
		first := MustCreateUser(t, st, newUser(base))

		sameEmail := newUser(base)
		sameEmail.Email = first.Email
		err := st.Users.Create(context.Background(), &sameEmail)
		if apitoken.ErrorCode(err) != apitoken.Conflict || !strings.Contains(err.Error(), first.Email) {
			t.Fatalf("Create with a taken email = %v, want a conflict naming the email", err)
		}

		sameID := newUser(base)
		sameID.ID = first.ID
		if err := st.Users.Create(context.Background(), &sameID); apitoken.ErrorCode(err) != apitoken.Conflict {
			t.Fatalf("Create with a taken id = %v, want a conflict", err)
		}
		if _, total, _ := st.Users.List(context.Background(), 10, 0); total != 1 {
			t.Fatalf("after refused duplicates: %d users, want 1", total)
		}
	})
}

func TestUsersGetUnknownIsNotFound(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		st := MustOpenDB(t, dialect)
		MustCreateUser(t, st, newUser(base))
		_, err := st.Users.Get(context.Background(), uuid.NewString())
		var e *apitoken.Error
		if !errors.As(err, &e) || e.Code != apitoken.NotFound || e.Detail != "user not found" {
			t.Fatalf("Get(unknown) = %v, want not_found: user not found", err)
		}
	})
}

func TestUsersList(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		st := MustOpenDB(t, dialect)
		// Created out of order, two of them at the same instant: the list
		// is ordered by creation, then id.
		var want []string
		created := []time.Time{base.Add(3 * time.Second), base, base.Add(time.Second), base.Add(time.Second), base.Add(2 * time.Second)}
		byTime := map[time.Time][]string{}
		for _, c := range created {
			u := MustCreateUser(t, st, newUser(c))
			byTime[c] = append(byTime[c], u.ID)
		}
		for _, c := range []time.Time{base, base.Add(time.Second), base.Add(2 * time.Second), base.Add(3 * time.Second)} {
			ids := byTime[c]
			if len(ids) == 2 && ids[0] > ids[1] {
				ids[0], ids[1] = ids[1], ids[0]
			}
			want = append(want, ids...)
		}

		tests := []struct {
			name          string
			limit, offset int
			want          []string
		}{
			{"everyone", 100, 0, want},
			{"the first page", 2, 0, want[:2]},
			{"a middle page", 2, 2, want[2:4]},
			{"the last, short page", 2, 4, want[4:]},
			{"a page past the end", 2, 10, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				users, total, err := st.Users.List(context.Background(), tt.limit, tt.offset)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, u := range users {
					got = append(got, u.ID)
				}
				if !reflect.DeepEqual(got, tt.want) || total != 5 {
					t.Fatalf("List(%d, %d) = %q, total %d; want %q, total 5", tt.limit, tt.offset, got, total, tt.want)
				}
			})
		}
	})
}

func TestUsersUpdate(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		st := MustOpenDB(t, dialect)
		ctx := context.Background()
		u := MustCreateUser(t, st, newUser(base))
		other := MustCreateUser(t, st, newUser(base))

		t.Run("changes are stored", func(t *testing.T) {
			updated, err := st.Users.Update(ctx, u.ID, func(u *apitoken.User) error {
				u.Role, u.Disabled, u.Scopes, u.UpdatedAt = apitoken.RoleAdmin, true, []string{"users"}, base.Add(time.Minute)
				return nil
			})
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			got, err := st.Users.Get(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			// Update returns the user as the change left it; the store keeps
			// times to the millisecond.
			updated.UpdatedAt = ms(updated.UpdatedAt)
			if !reflect.DeepEqual(got, updated) {
				t.Fatalf("Get = %+v, Update returned %+v", got, updated)
			}
			if got.Role != apitoken.RoleAdmin || !got.Disabled || !reflect.DeepEqual(got.Scopes, []string{"users"}) ||
				!got.UpdatedAt.Equal(ms(base.Add(time.Minute))) || !got.CreatedAt.Equal(ms(base)) || got.Email != u.Email {
				t.Fatalf("after Update: %+v", got)
			}
		})
		t.Run("an error from the change aborts it", func(t *testing.T) {
			before, _ := st.Users.Get(ctx, u.ID)
			refusal := apitoken.Errorf(apitoken.Forbidden, "no")
			_, err := st.Users.Update(ctx, u.ID, func(u *apitoken.User) error {
				u.Disabled = false
				return refusal
			})
			if !errors.Is(err, refusal) {
				t.Fatalf("Update = %v, want the change's own error", err)
			}
			if after, _ := st.Users.Get(ctx, u.ID); !reflect.DeepEqual(after, before) {
				t.Fatalf("the aborted change was stored: %+v", after)
			}
		})
		t.Run("taking another user's email is a conflict", func(t *testing.T) {
			_, err := st.Users.Update(ctx, u.ID, func(u *apitoken.User) error {
				u.Email = other.Email
				return nil
			})
			if apitoken.ErrorCode(err) != apitoken.Conflict {
				t.Fatalf("Update = %v, want a conflict", err)
			}
		})
		t.Run("an unknown user is not found, and the change is not called", func(t *testing.T) {
			called := false
			_, err := st.Users.Update(ctx, uuid.NewString(), func(*apitoken.User) error { called = true; return nil })
			if apitoken.ErrorCode(err) != apitoken.NotFound || called {
				t.Fatalf("Update(unknown) = %v (change called: %v), want not found", err, called)
			}
		})
	})
}

func TestUsersCreateFirst(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect string) {
		st := MustOpenDB(t, dialect)
		ctx := context.Background()
		first := newUser(base)
		created, err := st.Users.CreateFirst(ctx, &first)
		if err != nil || !created {
			t.Fatalf("CreateFirst on an empty database = %v, %v; want created", created, err)
		}
		second := newUser(base)
		created, err = st.Users.CreateFirst(ctx, &second)
		if err != nil || created {
			t.Fatalf("CreateFirst with a user present = %v, %v; want not created", created, err)
		}
		users, total, err := st.Users.List(ctx, 10, 0)
		if err != nil || total != 1 || users[0].ID != first.ID {
			t.Fatalf("List = %d users, %v; want only the first", total, err)
		}
	})
}

func TestUsersCreateFirstRacingReplicasCreateOneUser(t *testing.T) {
	const replicas = 6
	eachDialect(t, func(t *testing.T, dialect string) {
		url := dbtest.NewURL(t, dialect)
		stores := make([]*store.Store, replicas)
		for i := range stores {
			stores[i] = dbtest.MustOpenURL(t, url)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		created := make([]bool, replicas)
		errs := make([]error, replicas)
		for i, st := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := newUser(base)
				<-start
				created[i], errs[i] = st.Users.CreateFirst(context.Background(), &u)
			}()
		}
		close(start)
		wg.Wait()
		n := 0
		for i := range stores {
			if errs[i] != nil {
				t.Errorf("replica %d: CreateFirst: %v", i, errs[i])
			}
			if created[i] {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d replicas created the first user, want exactly 1", n)
		}
		if _, total, err := stores[0].Users.List(context.Background(), 10, 0); err != nil || total != 1 {
			t.Fatalf("List = %d users, %v; want 1", total, err)
		}
	})
}
