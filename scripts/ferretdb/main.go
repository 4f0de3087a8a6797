// Command ferretdb-launcher serves a throwaway MongoDB-compatible database for tests and local runs
// on machines where no mongod binary can be had. It embeds FerretDB v1 (SQLite backend) through
// its embeddable package, because `go install` of FerretDB's own command panics without the
// version files its release build generates.
//
// FerretDB v1 on SQLite runs an update as read, modify in Go, write back, with no lock between
// the read and the write: two concurrent `updateMany` calls guarded by the same status both match
// and both write, and concurrent `$inc` loses increments. MongoDB makes each document's update
// atomic, and the service relies on that. So the launcher puts FerretDB behind a small
// wire-protocol proxy that lets one command at a time through per database (see serialize.go);
// every command is then atomic, which is at least as strong as MongoDB's per-document guarantee.
//
// It listens on 127.0.0.1 on a free port, keeps its data in a temporary directory that it removes
// on exit, prints one line `MONGODB_URI=<uri>` on stdout once it accepts connections, and stops on
// SIGINT/SIGTERM or when its standard input closes (so it never outlives the process that
// started it).
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
	flag.Parse()

	if err := run(*listen, *logLevel); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb-launcher:", err)
		os.Exit(1)
	}
}

func run(listen, logLevel string) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "ferretdb-sqlite-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Stop when the parent goes away: it holds the write end of our stdin.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()

	socket := filepath.Join(dir, "ferretdb.sock")
	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{Unix: socket},
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		Handler:  "sqlite",
		// A throwaway database needs no durability, so SQLite skips fsync.
		SQLiteURL: "file:" + filepath.ToSlash(dir) + "/?_pragma=synchronous(OFF)",
	})
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

	serveSerialized(ctx, listener, func() (net.Conn, error) { return net.Dial("unix", socket) })

	return <-done
}
