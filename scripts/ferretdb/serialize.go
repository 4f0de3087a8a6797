package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
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

// commandLock admits one request/reply exchange at a time across all client connections.
var commandLock sync.Mutex

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
	if !isHeartbeat(request) {
		commandLock.Lock()
		defer commandLock.Unlock()
	}

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
