// Command ferretdb-launcher serves a throwaway MongoDB-compatible database for tests and local runs
// on machines where no mongod binary can be had. It embeds FerretDB v1 (SQLite backend) through
// its embeddable package, because `go install` of FerretDB's own command panics without the
// version files its release build generates.
//
// It listens on 127.0.0.1 on a free port, keeps its data in a temporary directory that it removes
// on exit, prints one line `MONGODB_URI=<uri>` on stdout once it accepts connections, and stops
// when it receives SIGINT/SIGTERM or when its standard input closes (so it never outlives the
// Node.js process that started it).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
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

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		Handler:   "sqlite",
		SQLiteURL: "file:" + filepath.ToSlash(dir) + "/",
	})
	if err != nil {
		return err
	}

	fmt.Printf("MONGODB_URI=%s\n", f.MongoDBURI())

	return f.Run(ctx)
}
