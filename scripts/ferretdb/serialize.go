package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// The MongoDB wire protocol: every message starts with a 16-byte header
// (messageLength, requestID, responseTo, opCode), little-endian.
const (
	headerLength = 16
	opMsg        = 2013
	opQuery      = 2004
	// OP_MSG flag: the sender expects no reply to this message (a request), or more replies
	// follow this one (a reply to an exhaust request).
	flagMoreToCome = 1 << 1
	maxMessageSize = 48 << 20
)

// databaseLocks admit one request/reply exchange at a time per database, across all client
// connections. Atomicity is only owed within a database, and per-database locks keep tests that
// work in databases of their own from waiting on each other.
var (
	databaseLocksMu sync.Mutex
	databaseLocks   = map[string]*sync.Mutex{}
)

func lockFor(database string) *sync.Mutex {
	databaseLocksMu.Lock()
	defer databaseLocksMu.Unlock()

	l, ok := databaseLocks[database]
	if !ok {
		l = new(sync.Mutex)
		databaseLocks[database] = l
	}

	return l
}

// serveSerialized accepts client connections and relays each to its own upstream connection,
// holding commandLock from the moment a request is sent until its last reply has arrived.
func serveSerialized(ctx context.Context, listener net.Listener, dial func() (net.Conn, error)) {
	var wg sync.WaitGroup
	defer wg.Wait()

	for {
		client, err := listener.Accept()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				fmt.Fprintln(os.Stderr, "ferretdb-launcher: accept:", err)
			}
			return
		}

		wg.Add(1)
		go func() {
			defer wg.Done()
			defer client.Close()

			upstream, err := dial()
			if err != nil {
				fmt.Fprintln(os.Stderr, "ferretdb-launcher: dial FerretDB:", err)
				return
			}
			defer upstream.Close()

			go func() {
				<-ctx.Done()
				client.Close()
				upstream.Close()
			}()

			for relayExchange(client, upstream) == nil {
			}
		}()
	}
}

// relayExchange forwards one request and, unless it expects none, its replies.
func relayExchange(client, upstream net.Conn) error {
	request, err := readMessage(client)
	if err != nil {
		return err
	}

	// Handshakes and heartbeats pass without the lock: they touch no data, and a driver whose
	// heartbeat waited behind a long command would declare the server lost and drop its pool.
	// On PostgreSQL, reads and inserts pass too (see needsTurn).
	arrived := time.Now()
	if !isHeartbeat(request) && needsTurn(request) {
		l := lockFor(targetDatabase(request))
		l.Lock()
		defer l.Unlock()
	}
	sent := time.Now()
	defer func() { recordCommand(request, sent.Sub(arrived), time.Since(sent)) }()

	if _, err = upstream.Write(request); err != nil {
		return err
	}
	if moreToCome(request) {
		return nil
	}

	for {
		reply, err := readMessage(upstream)
		if err != nil {
			return err
		}
		if _, err = client.Write(reply); err != nil {
			return err
		}
		if !moreToCome(reply) {
			return nil
		}
	}
}

func readMessage(r io.Reader) ([]byte, error) {
	header := make([]byte, headerLength)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, err
	}

	length := binary.LittleEndian.Uint32(header)
	if length < headerLength || length > maxMessageSize {
		return nil, fmt.Errorf("invalid message length %d", length)
	}

	message := make([]byte, length)
	copy(message, header)
	if _, err := io.ReadFull(r, message[headerLength:]); err != nil {
		return nil, err
	}

	return message, nil
}

// targetDatabase returns the `$db` of an OP_MSG command, or "" when it cannot be read (all
// such commands then share one lock, which is safe, only slower).
func targetDatabase(message []byte) string {
	const bodyStart = headerLength + 4 + 1
	if binary.LittleEndian.Uint32(message[12:16]) != opMsg || len(message) < bodyStart+5 || message[headerLength+4] != 0 {
		return ""
	}
	docLength := int(binary.LittleEndian.Uint32(message[bodyStart:]))
	if docLength < 5 || bodyStart+docLength > len(message) {
		return ""
	}
	doc := message[bodyStart : bodyStart+docLength]

	for i := 4; i < len(doc)-1; {
		elementType := doc[i]
		nameEnd := i + 1
		for nameEnd < len(doc) && doc[nameEnd] != 0 {
			nameEnd++
		}
		if nameEnd >= len(doc) {
			return ""
		}
		name := string(doc[i+1 : nameEnd])
		value := nameEnd + 1

		if name == "$db" && elementType == 0x02 && value+4 <= len(doc) {
			length := int(binary.LittleEndian.Uint32(doc[value:]))
			if length < 1 || value+4+length > len(doc) {
				return ""
			}
			return string(doc[value+4 : value+4+length-1])
		}

		size := bsonValueSize(elementType, doc[value:])
		if size < 0 {
			return ""
		}
		i = value + size
	}

	return ""
}

// bsonValueSize returns the encoded size of a BSON value of the given type, or -1 if unknown.
func bsonValueSize(elementType byte, value []byte) int {
	int32At := func(offset int) int {
		if offset+4 > len(value) {
			return -1 << 30
		}
		return int(binary.LittleEndian.Uint32(value[offset:]))
	}
	cstring := func(offset int) int {
		for j := offset; j < len(value); j++ {
			if value[j] == 0 {
				return j + 1 - offset
			}
		}
		return -1 << 30
	}

	var size int
	switch elementType {
	case 0x06, 0x0A, 0xFF, 0x7F: // undefined, null, min key, max key
		size = 0
	case 0x08: // bool
		size = 1
	case 0x10: // int32
		size = 4
	case 0x01, 0x09, 0x11, 0x12: // double, datetime, timestamp, int64
		size = 8
	case 0x07: // ObjectId
		size = 12
	case 0x13: // decimal128
		size = 16
	case 0x02, 0x0D, 0x0E: // string, code, symbol
		size = 4 + int32At(0)
	case 0x03, 0x04, 0x0F: // document, array, code with scope
		size = int32At(0)
	case 0x05: // binary
		size = 4 + 1 + int32At(0)
	case 0x0C: // DBPointer
		size = 4 + int32At(0) + 12
	case 0x0B: // regex: two cstrings
		first := cstring(0)
		size = first + cstring(first)
	default:
		return -1
	}

	if size < 0 || size > len(value) {
		return -1
	}
	return size
}

// readsBypassTurn is set for the PostgreSQL backend: there, only commands that read and then
// write need their database's turn. A read sees each document as it was before or after an update
// (PostgreSQL's MVCC; each document is written by one UPDATE), which is all MongoDB promises too;
// an insert writes new documents only, and a duplicate _id or unique key is refused by
// PostgreSQL's own unique index. On SQLite everything keeps taking turns, as measured safe before.
var readsBypassTurn = false

// turnFreeCommands neither modify documents they have read nor change the schema. Everything not
// listed (update, findAndModify, delete, createIndexes, drop, ...) takes the turn.
var turnFreeCommands = map[string]bool{
	"find": true, "getMore": true, "killCursors": true, "aggregate": true, "count": true,
	"distinct": true, "insert": true, "listCollections": true, "listIndexes": true,
	"listDatabases": true, "dbStats": true, "collStats": true, "endSessions": true,
	"buildInfo": true, "getParameter": true, "serverStatus": true,
}

// needsTurn tells whether a command must wait for its database's turn.
func needsTurn(message []byte) bool {
	if !readsBypassTurn {
		return true
	}
	name, _ := commandName(message)
	if name != "aggregate" {
		return !turnFreeCommands[name]
	}
	// An aggregation that writes ($out, $merge) takes the turn like any other write.
	return bytesContains(message, "$out") || bytesContains(message, "$merge")
}

func bytesContains(message []byte, s string) bool {
	return strings.Contains(string(message), s)
}

// heartbeatCommands touch no data, so they never need to wait for the lock.
var heartbeatCommands = map[string]bool{"hello": true, "isMaster": true, "ismaster": true, "ping": true}

// isHeartbeat tells a handshake or heartbeat (OP_QUERY is only used for the legacy handshake)
// from a data command, by the command name: the first key of the OP_MSG body section.
func isHeartbeat(message []byte) bool {
	switch binary.LittleEndian.Uint32(message[12:16]) {
	case opQuery:
		return true
	case opMsg:
		// header, flagBits (4), section kind 0 (1), document length (4), element type (1), name
		const nameStart = headerLength + 4 + 1 + 4 + 1
		if len(message) <= nameStart || message[headerLength+4] != 0 {
			return false
		}
		end := nameStart
		for end < len(message) && message[end] != 0 {
			end++
		}
		return heartbeatCommands[string(message[nameStart:end])]
	default:
		return false
	}
}

func moreToCome(message []byte) bool {
	if binary.LittleEndian.Uint32(message[12:16]) != opMsg || len(message) < headerLength+4 {
		return false
	}
	return binary.LittleEndian.Uint32(message[headerLength:])&flagMoreToCome != 0
}
