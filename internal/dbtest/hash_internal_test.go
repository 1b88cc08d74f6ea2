package dbtest

import (
	"testing"
	"testing/fstest"
)

func TestTheTemplateHashFollowsEveryMigrationFile(t *testing.T) {
	t.Parallel()
	base := func() fstest.MapFS {
		return fstest.MapFS{
			"postgres/0001_init.sql": {Data: []byte("CREATE TABLE a (id int);")},
			"sqlite/0001_init.sql":   {Data: []byte("CREATE TABLE a (id INTEGER);")},
		}
	}
	hash := func(fsys fstest.MapFS) string {
		t.Helper()
		h, err := hashFiles(fsys)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 16 {
			t.Fatalf("hash %q, want 16 hex digits", h)
		}
		return h
	}
	want := hash(base())
	if again := hash(base()); again != want {
		t.Fatalf("the same files hash to %s and %s", want, again)
	}
	for name, change := range map[string]func(fstest.MapFS){
		"a migration edited":  func(f fstest.MapFS) { f["postgres/0001_init.sql"].Data = []byte("CREATE TABLE b (id int);") },
		"a migration added":   func(f fstest.MapFS) { f["postgres/0002_more.sql"] = &fstest.MapFile{Data: []byte("SELECT 1;")} },
		"a migration removed": func(f fstest.MapFS) { delete(f, "sqlite/0001_init.sql") },
		"a migration renamed": func(f fstest.MapFS) {
			f["postgres/0001_start.sql"] = f["postgres/0001_init.sql"]
			delete(f, "postgres/0001_init.sql")
		},
		"text moved from one file to the next": func(f fstest.MapFS) {
			f["postgres/0001_init.sql"].Data = []byte("CREATE TABLE a (id int);CREATE")
			f["sqlite/0001_init.sql"].Data = []byte(" TABLE a (id INTEGER);")
		},
	} {
		f := base()
		change(f)
		if got := hash(f); got == want {
			t.Errorf("%s: the hash stays %s", name, got)
		}
	}
}
