package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tokend/tokend/internal/dbtest"
	"github.com/tokend/tokend/internal/store"
)

// repoRoot is where the Dockerfile and docker-compose.yml are, seen from
// this package's directory.
const repoRoot = "../.."

// composeFile is the part of a Compose file the tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string `yaml:"image"`
	Build       any    `yaml:"build"`
	Environment any    `yaml:"environment"` // a map, or a list of NAME=value
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Ports       []string `yaml:"ports"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

// env returns the service's environment, interpolated as Compose does with
// the variables of the shell that runs it, or the error Compose stops with.
func (s composeService) env(shell testEnv) (testEnv, error) {
	out := testEnv{}
	var err error
	set := func(k, v string) {
		var e error
		out[k], e = interpolate(v, shell)
		if err == nil {
			err = e
		}
	}
	switch e := s.Environment.(type) {
	case map[string]any:
		for k, v := range e {
			set(k, fmt.Sprint(v))
		}
	case []any:
		for _, item := range e {
			k, v, _ := strings.Cut(fmt.Sprint(item), "=")
			set(k, v)
		}
	default:
		return nil, fmt.Errorf("environment of type %T", e)
	}
	return out, err
}

// mustEnv is env for a shell that must satisfy the file.
func (s composeService) mustEnv(t *testing.T, shell testEnv) testEnv {
	t.Helper()
	env, err := s.env(shell)
	if err != nil {
		t.Fatalf("compose refuses to start: %v", err)
	}
	return env
}

var composeVar = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// interpolate substitutes ${VAR}, ${VAR:-default}, ${VAR-default},
// ${VAR:?error}, ${VAR?error}, $VAR and $$ as Compose does, and returns
// the error of a required variable that is missing.
func interpolate(s string, shell testEnv) (string, error) {
	var err error
	out := composeVar.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		g := composeVar.FindStringSubmatch(m)
		name, op, arg := g[1], g[2], g[3]
		if name == "" {
			name = g[4]
		}
		v, set := shell[name]
		switch {
		case op == ":-" && v == "", op == "-" && !set:
			return arg
		case op == ":?" && v == "", op == "?" && !set:
			err = fmt.Errorf("%s: %s", name, arg)
		}
		return v
	})
	return out, err
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return f
}

// dockerfile is a parsed Dockerfile: its instructions by stage, the last
// stage being the image.
type dockerfile struct {
	stages [][]instruction
}

type instruction struct {
	cmd, args string
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var d dockerfile
	var line string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if line == "" && (text == "" || strings.HasPrefix(text, "#")) {
			continue
		}
		if strings.HasSuffix(text, "\\") {
			line += strings.TrimSuffix(text, "\\") + " "
			continue
		}
		line += text
		cmd, args, _ := strings.Cut(line, " ")
		line = ""
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			d.stages = append(d.stages, nil)
		}
		if len(d.stages) > 0 {
			d.stages[len(d.stages)-1] = append(d.stages[len(d.stages)-1], in)
		}
	}
	if len(d.stages) < 2 {
		t.Fatalf("the Dockerfile has %d stages, want a build stage and an image", len(d.stages))
	}
	return d
}

// image returns the arguments of the final stage's instructions of a kind.
func (d dockerfile) image(cmd string) []string {
	var out []string
	for _, in := range d.stages[len(d.stages)-1] {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// envs returns the environment the final stage sets with ENV NAME=value.
func (d dockerfile) envs(t *testing.T) testEnv {
	t.Helper()
	out := testEnv{}
	for _, args := range d.image("ENV") {
		for _, kv := range strings.Fields(args) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("Dockerfile: write ENV as NAME=value, not %q", args)
			}
			out[k] = strings.Trim(v, `"`)
		}
	}
	return out
}

// execForm parses the JSON exec form of CMD, ENTRYPOINT or a healthcheck.
func execForm(t *testing.T, what, args string) []string {
	t.Helper()
	var out []string
	if err := yaml.Unmarshal([]byte(args), &out); err != nil || len(out) == 0 || !strings.HasPrefix(args, "[") {
		t.Fatalf("%s %q is not in exec form", what, args)
	}
	return out
}

func TestDockerfile(t *testing.T) {
	d := readDockerfile(t)
	compose := readCompose(t)

	// The build stage builds ./cmd/tokend statically, with a Go new enough
	// for go.mod.
	var build string
	for _, stage := range d.stages[:len(d.stages)-1] {
		for _, in := range stage {
			if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
				build = in.args
			}
		}
	}
	if !strings.Contains(build, "CGO_ENABLED=0") || !regexp.MustCompile(`\s\./cmd/tokend(\s|$)`).MatchString(build) {
		t.Errorf("the Dockerfile's build %q must build ./cmd/tokend with CGO_ENABLED=0", build)
	}
	out := regexp.MustCompile(`-o\s+(\S+)`).FindStringSubmatch(build)
	if out == nil {
		t.Fatalf("the Dockerfile's build %q names no output", build)
	}
	gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	wantGo := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindStringSubmatch(string(gomod))
	goImage := regexp.MustCompile(`ARG GO_VERSION=(\d+)\.(\d+)`).FindStringSubmatch(readFile(t, "Dockerfile"))
	if wantGo == nil || goImage == nil || atoi(goImage[1])*1000+atoi(goImage[2]) < atoi(wantGo[1])*1000+atoi(wantGo[2]) {
		t.Errorf("the build image's Go %v is older than go.mod's %v", goImage, wantGo)
	}

	// The image: distroless or alpine, not root, serving on 8080, with
	// the binary the build stage made.
	from := d.image("FROM")[0]
	if !strings.Contains(from, "distroless/static") && !strings.HasPrefix(from, "alpine") {
		t.Errorf("the image is based on %q, want distroless static or alpine", from)
	}
	users := d.image("USER")
	if len(users) == 0 || strings.HasPrefix(users[len(users)-1], "root") || strings.HasPrefix(users[len(users)-1], "0") {
		t.Errorf("the image runs as %q, want a user other than root", users)
	}
	var binary string
	for _, args := range d.image("COPY") {
		if f := strings.Fields(args); strings.HasPrefix(f[0], "--from=") && f[len(f)-2] == out[1] {
			binary = f[len(f)-1]
		}
	}
	if binary == "" {
		t.Fatalf("the image does not copy the binary %s", out[1])
	}
	entry := execForm(t, "ENTRYPOINT", d.image("ENTRYPOINT")[0])
	cmd := execForm(t, "CMD", d.image("CMD")[0])
	if got := strings.Join(append(entry, cmd...), " "); got != binary+" serve" {
		t.Errorf("the image runs %q, want %q", got, binary+" serve")
	}
	if expose := d.image("EXPOSE"); len(expose) != 1 || expose[0] != "8080" {
		t.Errorf("EXPOSE %q, want 8080", expose)
	}
	env := d.envs(t)
	if _, port, _ := net.SplitHostPort(env["TOKEND_LISTEN"]); port != "8080" {
		t.Errorf("the image listens on %q, want :8080", env["TOKEND_LISTEN"])
	}
	volumes := d.image("VOLUME")
	if env["TOKEND_DATA_DIR"] == "" || len(volumes) != 1 || !strings.Contains(volumes[0], `"`+env["TOKEND_DATA_DIR"]+`"`) {
		t.Errorf("TOKEND_DATA_DIR %q is not the volume %q", env["TOKEND_DATA_DIR"], volumes)
	}
	for _, hc := range d.image("HEALTHCHECK") {
		_, args, _ := strings.Cut(hc, "CMD ")
		if got := execForm(t, "HEALTHCHECK", args); strings.Join(got, " ") != binary+" healthcheck" {
			t.Errorf("HEALTHCHECK runs %q, want %q", got, binary+" healthcheck")
		}
	}
	if hc := compose.Services["tokend"].Healthcheck; hc == nil || strings.Join(hc.Test, " ") != "CMD "+binary+" healthcheck" {
		t.Errorf("the compose healthcheck of tokend is %+v, want CMD %s healthcheck", hc, binary)
	}

	// The build itself works here, and gives a static binary that runs.
	if testing.Short() {
		t.Skip("-short: not building the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "tokend")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	gob := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-ldflags=-s -w -X main.version=docker-test", "-o", bin, "./cmd/tokend")
	gob.Dir = repoRoot
	gob.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := gob.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build ./cmd/tokend: %v\n%s", err, msg)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("the binary is not ELF: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary needs a dynamic loader; distroless static has none")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary links %v dynamically", libs)
	}
	version, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil || string(version) != "tokend docker-test\n" {
		t.Errorf("the built binary's version: %q, %v", version, err)
	}
}

func TestComposeFile(t *testing.T) {
	f := readCompose(t)
	pg, ok := f.Services["postgres"]
	if !ok {
		t.Fatal("docker-compose.yml has no postgres service")
	}
	svc, ok := f.Services["tokend"]
	if !ok {
		t.Fatal("docker-compose.yml has no tokend service")
	}
	if !strings.HasPrefix(pg.Image, "postgres:16") {
		t.Errorf("postgres image = %q, want postgres:16", pg.Image)
	}
	if pg.Healthcheck == nil || len(pg.Healthcheck.Test) < 2 || !strings.Contains(strings.Join(pg.Healthcheck.Test, " "), "pg_isready") {
		t.Errorf("the postgres service has no pg_isready healthcheck: %+v", pg.Healthcheck)
	}
	if svc.Build == nil {
		t.Error("the tokend service is not built from the Dockerfile")
	}
	if dep, ok := svc.DependsOn["postgres"]; !ok || dep.Condition != "service_healthy" {
		t.Errorf("tokend depends on postgres with %+v, want condition service_healthy", svc.DependsOn)
	}
	if len(svc.Ports) != 1 || svc.Ports[0] != "8080:8080" {
		t.Errorf("tokend ports = %q, want 8080:8080", svc.Ports)
	}

	// Compose refuses to start without TOKEND_SECRET, and says why.
	if _, err := svc.env(testEnv{}); err == nil || !strings.Contains(err.Error(), "TOKEND_SECRET") {
		t.Errorf("without TOKEND_SECRET, compose's error is %v, want one naming TOKEND_SECRET", err)
	}
	shell := testEnv{"TOKEND_SECRET": testSecret}
	env := svc.mustEnv(t, shell)
	pgEnv := pg.mustEnv(t, shell)

	// The database URL names the postgres service with its credentials.
	u, err := url.Parse(env["TOKEND_DATABASE_URL"])
	if err != nil || u.Scheme != "postgres" {
		t.Fatalf("TOKEND_DATABASE_URL = %q, want a postgres:// URL", env["TOKEND_DATABASE_URL"])
	}
	pass, _ := u.User.Password()
	if u.Host != "postgres:5432" || u.User.Username() != pgEnv["POSTGRES_USER"] || pass != pgEnv["POSTGRES_PASSWORD"] ||
		u.Path != "/"+pgEnv["POSTGRES_DB"] || u.Query().Get("sslmode") != "disable" {
		t.Errorf("TOKEND_DATABASE_URL %s does not match the postgres service %v", u.Redacted(), pgEnv)
	}
	if env["TOKEND_SECRET"] != testSecret {
		t.Errorf("TOKEND_SECRET = %q, want the shell's", env["TOKEND_SECRET"])
	}
	if env["TOKEND_LISTEN"] != ":8080" {
		t.Errorf("TOKEND_LISTEN = %q, want :8080", env["TOKEND_LISTEN"])
	}

	// tokend starts and gets ready with exactly that environment, on top of
	// the image's, but for a database and a port of the test's own.
	dialect := store.SQLite
	if os.Getenv(dbtest.EnvURL) != "" {
		dialect = store.Postgres
	} else {
		t.Logf("%s is not set: serving on SQLite instead of PostgreSQL", dbtest.EnvURL)
	}
	run := readDockerfile(t).envs(t)
	for k, v := range env {
		run[k] = v
	}
	run["TOKEND_DATABASE_URL"] = dbtest.NewURL(t, dialect)
	run["TOKEND_LISTEN"] = "127.0.0.1:0"
	run["TOKEND_DATA_DIR"] = t.TempDir() // the image's volume
	s := startServe(t, run)
	bootstrapToken(t, s)

	// The container healthcheck passes while tokend is ready, and fails
	// once it is gone.
	listen := run.with("TOKEND_LISTEN", ":"+portOf(t, strings.TrimPrefix(s.URL, "http://")))
	if out := mustCLI(t, listen, "healthcheck"); out != "ready\n" {
		t.Errorf("healthcheck printed %q, want ready", out)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cli(t, listen, "healthcheck"); err == nil {
		t.Error("healthcheck passed with tokend stopped")
	}
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
