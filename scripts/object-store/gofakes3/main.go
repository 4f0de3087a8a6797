// Command object-store-launcher serves a throwaway S3-compatible object store for tests and local
// runs: gofakes3 (github.com/johannesboyne/gofakes3) with its in-memory backend, or with its file
// backend in a temporary directory (-backend fs).
//
// It listens on 127.0.0.1 on a free port, prints one line `S3_ENDPOINT=<url>` on stdout once it
// accepts connections, and stops on SIGINT/SIGTERM or when its standard input closes (so it never
// outlives the process that started it), removing its temporary directory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "TCP address to listen on (port 0 picks a free one)")
	backendKind := flag.String("backend", "memory", "memory or fs (a temporary directory)")
	verbose := flag.Bool("verbose", false, "log every request to stderr")
	flag.Parse()

	if err := run(*listen, *backendKind, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "object-store-launcher:", err)
		os.Exit(1)
	}
}

func run(listen, backendKind string, verbose bool) error {
	var backend gofakes3.Backend
	switch backendKind {
	case "memory":
		backend = s3mem.New()
	case "fs":
		dir, err := os.MkdirTemp("", "fma-object-store-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		baseFs, err := s3afero.FsPath(dir, s3afero.FsPathCreateAll)
		if err != nil {
			return err
		}
		// Measured only: deleting an object leaves its key's directories behind, and DeleteBucket
		// then refuses the bucket as not empty.
		backend, err = s3afero.MultiBucket(baseFs)
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown backend %q (memory or fs)", backendKind)
	}

	options := []gofakes3.Option{
		// Objects are written once under fresh keys; versions would only hold on to memory.
		gofakes3.WithoutVersioning(),
	}
	if verbose {
		options = append(options, gofakes3.WithGlobalLog())
	} else {
		options = append(options, gofakes3.WithLogger(gofakes3.DiscardLog()))
	}
	faker := gofakes3.New(backend, options...)

	listener, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	server := &http.Server{Handler: faker.Server(), ReadHeaderTimeout: 30 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Stop when the parent goes away: it holds the write end of our stdin.
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()

	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	fmt.Printf("S3_ENDPOINT=http://%s\n", listener.Addr().String())

	select {
	case <-ctx.Done():
	case err := <-served:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		log.Println("object-store-launcher: shutdown:", err)
	}
	return nil
}

