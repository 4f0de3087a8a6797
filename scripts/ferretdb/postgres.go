package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// postgresServer is a throwaway PostgreSQL cluster: initdb into a directory of ours, one
// postmaster listening only on a Unix socket in that directory, no durability.
type postgresServer struct {
	dir     string // the cluster's home: data/ and the socket; removed by the caller
	cmd     *exec.Cmd
	exited  chan struct{}
	version string // e.g. "15.14"
}

// Settings of a cluster that lives for one test run: nothing has to survive a crash, so skip
// every flush to disk. an empty listen_addresses means no TCP at all; the socket lives in our directory,
// so no port can clash with another cluster on this machine.
var postgresSettings = []string{
	"listen_addresses=",
	"fsync=off",
	"synchronous_commit=off",
	"full_page_writes=off",
	"wal_level=minimal",
	"max_wal_senders=0",
	"max_wal_size=4GB", // no checkpoint in the middle of a large benchmark
	"checkpoint_timeout=1h",
	"shared_buffers=256MB",
	"max_connections=" + strconv.Itoa(poolMaxConns+20),
	"log_min_messages=fatal",
	"unix_socket_permissions=0700",
}

// startPostgres creates a cluster in dir with the binaries in binDir and starts it. It returns
// once the server accepts connections.
//
// PostgreSQL refuses to run as root ("root" execution of the PostgreSQL server is not permitted),
// and CI runs as root. So, when we are root, initdb and postgres run as the unprivileged account
// Debian's postgresql package creates (`postgres`, or $FERRETDB_POSTGRES_USER), through
// SysProcAttr.Credential, and the directory is handed to that account first. Root itself can
// still reach the socket (root passes every permission check), so FerretDB, in this process,
// connects as usual.
func startPostgres(ctx context.Context, binDir, dir string) (*postgresServer, error) {
	credential, err := serverCredential(dir)
	if err != nil {
		return nil, err
	}

	data := filepath.Join(dir, "data")
	var initdbOutput strings.Builder
	initdb := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"--pgdata", data, "--username", "postgres", "--auth", "trust",
		"--encoding", "UTF8", "--no-locale", "--no-sync", "--no-instructions")
	initdb.Stdout = &initdbOutput
	initdb.Stderr = &initdbOutput
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: credential, Pdeathsig: syscall.SIGKILL}
	if err := initdb.Run(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, initdbOutput.String())
	}

	args := []string{"-D", data, "-k", dir}
	for _, setting := range postgresSettings {
		args = append(args, "-c", setting)
	}
	cmd := exec.Command(filepath.Join(binDir, "postgres"), args...)
	logFile, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: credential,
		// Its own process group: a Ctrl-C in the terminal reaches this launcher, which then stops
		// PostgreSQL after FerretDB has let go of it, instead of both stopping at once.
		Setpgid: true,
		// Belt and braces: should this launcher die without cleaning up (SIGKILL), the kernel
		// sends PostgreSQL SIGQUIT, its "immediate shutdown". Go sets it after the credential
		// change, which would otherwise clear it.
		Pdeathsig: syscall.SIGQUIT,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}

	server := &postgresServer{dir: dir, cmd: cmd, exited: make(chan struct{}), version: postgresVersion(binDir)}
	go func() {
		_ = cmd.Wait()
		close(server.exited)
	}()

	if err := server.waitReady(ctx, 30*time.Second); err != nil {
		server.stop()
		log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
		return nil, fmt.Errorf("%w\n%s", err, log)
	}

	return server, nil
}

// serverCredential returns nil (run as ourselves) unless we are root; as root, the credential of
// the unprivileged account that will own the cluster, after giving it dir.
func serverCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}

	name := os.Getenv("FERRETDB_POSTGRES_USER")
	if name == "" {
		name = "postgres"
	}
	account, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL refuses to run as root and there is no %q account to run it as "+
			"(set FERRETDB_POSTGRES_USER to an unprivileged one): %w", name, err)
	}
	uid, _ := strconv.Atoi(account.Uid)
	gid, _ := strconv.Atoi(account.Gid)
	if uid == 0 {
		return nil, fmt.Errorf("FERRETDB_POSTGRES_USER=%s is root; PostgreSQL needs an unprivileged account", name)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}

	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// socketPath is where postgres -k dir listens (the default port names the socket).
func (s *postgresServer) socketPath() string {
	return filepath.Join(s.dir, ".s.PGSQL.5432")
}

// poolMaxConns is the size of FerretDB's connection pool (its default: 50). FerretDB holds a
// PostgreSQL connection for every open cursor (a find whose first batch came back full keeps one
// until its getMore). Behind our serializing proxy, a command that waits for a pooled connection
// holds its database's turn, and the getMores that would free connections wait for that turn:
// with 50 connections, 8 claimers racing 10 batches each (the claim concurrency test) deadlocked.
// So the pool is far larger than the number of cursors a test or a benchmark opens at once.
const poolMaxConns = 400

// url is the connection string FerretDB gets: the Unix socket directory as host.
func (s *postgresServer) url() string {
	return "postgres:///postgres?host=" + s.dir + "&user=postgres&pool_max_conns=" + strconv.Itoa(poolMaxConns)
}

// waitReady waits until postgres reports "ready" in postmaster.pid (what pg_ctl waits for) and
// its socket accepts connections.
func (s *postgresServer) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	pidFile := filepath.Join(s.dir, "data", "postmaster.pid")
	for {
		select {
		case <-s.exited:
			return errors.New("postgres exited during startup")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}

		if pidFileSaysReady(pidFile) {
			if conn, err := net.Dial("unix", s.socketPath()); err == nil {
				conn.Close()
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres was not ready within %s", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pidFileSaysReady reads the postmaster status, the 8th line of postmaster.pid.
func pidFileSaysReady(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()

	scanner := bufio.NewScanner(f)
	for line := 1; scanner.Scan(); line++ {
		if line == 8 {
			return strings.TrimSpace(scanner.Text()) == "ready"
		}
	}
	return false
}

// stop ends PostgreSQL with SIGQUIT, its immediate shutdown (the cluster is thrown away, so no
// checkpoint is needed), and SIGKILL should it still run after 10 s.
func (s *postgresServer) stop() {
	if s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
}

var versionPattern = regexp.MustCompile(`\(PostgreSQL\) (\d+(?:\.\d+)?)`)

func postgresVersion(binDir string) string {
	out, err := exec.Command(filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return "unknown"
	}
	if m := versionPattern.FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return "unknown"
}
