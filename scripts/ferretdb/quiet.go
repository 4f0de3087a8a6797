package main

import (
	"context"
	"log/slog"
	"strings"
)

// quietDuplicates drops FerretDB's ERROR records of PostgreSQL unique violations (SQLSTATE
// 23505). Each one reaches the client as MongoDB's duplicate-key error (E11000), which the service
// expects and handles (one score per aggregate and client, a lease already held, an
// Idempotency-Key already taken), so logging it as an error only buries the real ones in CI's log.
type quietDuplicates struct{ slog.Handler }

func (h quietDuplicates) Handle(ctx context.Context, record slog.Record) error {
	duplicate := false
	record.Attrs(func(attr slog.Attr) bool {
		if attr.Key == "err" && strings.Contains(attr.Value.String(), "SQLSTATE 23505") {
			duplicate = true
			return false
		}
		return true
	})
	if duplicate {
		return nil
	}
	return h.Handler.Handle(ctx, record)
}

func (h quietDuplicates) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietDuplicates{h.Handler.WithAttrs(attrs)}
}

func (h quietDuplicates) WithGroup(name string) slog.Handler {
	return quietDuplicates{h.Handler.WithGroup(name)}
}
