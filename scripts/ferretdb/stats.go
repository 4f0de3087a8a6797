package main

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"sort"
	"sync"
	"time"
)

// Command statistics, for finding where a request's time goes: with FERRETDB_LAUNCHER_STATS set
// to a file name, the proxy times every command it relays (the wait for its database's turn, and
// FerretDB's work until the last reply) per command name and collection, and writes the totals
// there as JSON when the launcher stops.
type commandStats struct {
	Command     string  `json:"command"`
	Collection  string  `json:"collection"`
	Count       int     `json:"count"`
	WaitMs      float64 `json:"waitMs"`    // total time waiting for the database's turn
	ExecuteMs   float64 `json:"executeMs"` // total time from sending the request to the last reply
	MaxExecMs   float64 `json:"maxExecuteMs"`
	RequestSize int     `json:"requestBytes"` // total
}

var (
	statsFile  = os.Getenv("FERRETDB_LAUNCHER_STATS")
	statsMu    sync.Mutex
	statsByKey = map[string]*commandStats{}
)

func recordCommand(request []byte, wait, execute time.Duration) {
	if statsFile == "" {
		return
	}
	name, collection := commandName(request)
	statsMu.Lock()
	defer statsMu.Unlock()
	key := name + " " + collection
	s, ok := statsByKey[key]
	if !ok {
		s = &commandStats{Command: name, Collection: collection}
		statsByKey[key] = s
	}
	s.Count++
	s.WaitMs += float64(wait.Microseconds()) / 1000
	ms := float64(execute.Microseconds()) / 1000
	s.ExecuteMs += ms
	if ms > s.MaxExecMs {
		s.MaxExecMs = ms
	}
	s.RequestSize += len(request)
}

func writeStats() {
	if statsFile == "" {
		return
	}
	statsMu.Lock()
	defer statsMu.Unlock()
	all := make([]*commandStats, 0, len(statsByKey))
	for _, s := range statsByKey {
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ExecuteMs > all[j].ExecuteMs })
	data, _ := json.MarshalIndent(all, "", "  ")
	_ = os.WriteFile(statsFile, data, 0o644)
}

// commandName returns an OP_MSG command's name (its first key) and, when that key's value is a
// string, the collection it names.
func commandName(message []byte) (string, string) {
	const nameStart = headerLength + 4 + 1 + 4 + 1
	if binary.LittleEndian.Uint32(message[12:16]) != opMsg || len(message) <= nameStart || message[headerLength+4] != 0 {
		return "(other)", ""
	}
	end := nameStart
	for end < len(message) && message[end] != 0 {
		end++
	}
	name := string(message[nameStart:end])
	value := end + 1
	if message[nameStart-1] == 0x02 && value+4 <= len(message) {
		length := int(binary.LittleEndian.Uint32(message[value:]))
		if length >= 1 && value+4+length <= len(message) {
			return name, string(message[value+4 : value+4+length-1])
		}
	}
	return name, ""
}
