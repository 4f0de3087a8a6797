// Command ferretdb-launcher serves a throwaway MongoDB-compatible database for tests and local runs
// on machines where no mongod binary can be had. It embeds FerretDB v1 through its embeddable
// package, because `go install` of FerretDB's own command panics without the version files its
// release build generates.
//
// Two backends: `-backend postgresql -pg-bindir <dir>` makes a throwaway PostgreSQL cluster in the
// temporary directory (see postgres.go), runs it as a child of this process and stops it on the way
// out; `-backend sqlite` keeps the data in SQLite files there. On SQLite, FerretDB pushes down no
// filter but a string or ObjectId `_id` and rewrites each updated document after a table scan, so
// `updateMany` grows with the square of the collection; PostgreSQL gets top-level equality filters
// and updates by the indexed `_id`.
//
// FerretDB v1 on either backend runs an update as read, modify in Go, write back, with no lock between
// the read and the write: two concurrent `updateMany` calls guarded by the same status both match
// and both write, and concurrent `$inc` loses increments. MongoDB makes each document's update
// atomic, and the service relies on that. So the launcher puts FerretDB behind a small
// wire-protocol proxy that lets one command at a time through per database (see serialize.go);
// every command is then atomic, which is at least as strong as MongoDB's per-document guarantee.
// On PostgreSQL, reads and inserts pass without waiting (they do not read-then-write), which
// keeps a submission's reads from queueing behind other clients' commands.
//
// It listens on 127.0.0.1 on a free port, keeps its data in a temporary directory that it removes
// on exit, prints `FERRETDB_BACKEND=<backend>`, `FERRETDB_DIR=<dir>`, `POSTGRES_PID=<pid>`
// (PostgreSQL only) and last `MONGODB_URI=<uri>` on stdout once it accepts connections, and stops
// on SIGINT/SIGTERM or when its standard input closes (so it never outlives the process that
// started it). PostgreSQL, its child, gets SIGQUIT from the kernel should the launcher itself be
// killed (Pdeathsig), and the next launcher removes directories that a killed one left behind.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "TCP address to listen on (port 0 picks a free one)")
	logLevel := flag.String("log-level", "error", "FerretDB log level: debug, info, warn or error")
	backend := flag.String("backend", "sqlite", "FerretDB backend: postgresql or sqlite")
	pgBinDir := flag.String("pg-bindir", "", "PostgreSQL server binaries (initdb, postgres), for -backend postgresql")
	flag.Parse()

	if err := run(*listen, *logLevel, *backend, *pgBinDir); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb-launcher:", err)
		os.Exit(1)
	}
}

func run(listen, logLevel, backend, pgBinDir string) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return err
	}
	if backend != "sqlite" && backend != "postgresql" {
		return fmt.Errorf("unknown backend %q (postgresql or sqlite)", backend)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Stop when the parent goes away: it holds the write end of our stdin.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()

	removeAbandonedDirs()
	dir, release, err := makeOwnedTempDir("ferretdb-" + backend + "-")
	if err != nil {
		return err
	}
	// Deferred calls run last-in first-out: PostgreSQL stops (below) before the directory goes.
	defer func() {
		release()
		os.RemoveAll(dir)
	}()

	config := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{Unix: filepath.Join(dir, "ferretdb.sock")},
		Logger:   slog.New(quietDuplicates{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})}),
		Handler:  backend,
	}
	description := "SQLite"

	if backend == "postgresql" {
		if pgBinDir == "" {
			return fmt.Errorf("-backend postgresql needs -pg-bindir")
		}
		pg, err := startPostgres(ctx, pgBinDir, dir)
		if err != nil {
			return err
		}
		defer pg.stop()
		readsBypassTurn = true
		config.PostgreSQLURL = pg.url()
		description = "PostgreSQL " + pg.version
		fmt.Printf("POSTGRES_PID=%d\n", pg.cmd.Process.Pid)
	} else {
		// A throwaway database needs no durability, so SQLite skips fsync.
		config.SQLiteURL = "file:" + filepath.ToSlash(dir) + "/?_pragma=synchronous(OFF)"
	}
	fmt.Printf("FERRETDB_BACKEND=%s\nFERRETDB_DIR=%s\n", description, dir)

	f, err := ferretdb.New(config)
	if err != nil {
		return err
	}

	listener, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}

	go func() {
		<-ctx.Done()
		listener.Close()
	}()

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	fmt.Printf("MONGODB_URI=mongodb://%s/\n", listener.Addr())

	serveSerialized(ctx, listener, func() (net.Conn, error) { return net.Dial("unix", config.Listener.Unix) })

	err = <-done
	writeStats()
	return err
}
