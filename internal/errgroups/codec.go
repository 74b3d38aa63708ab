package errgroups

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"time"
)

// Minute object format, version 1:
//
//	+--------+---------+--------------------------------+-----------+
//	| "CLEG" | version | body: JSON                     | CRC-32C   |
//	| 4 B    | 1 B     |                                | 4 B, LE   |
//	+--------+---------+--------------------------------+-----------+
//	body = {"start": unix seconds,
//	        "groups": {id: {"info": Info, "detail": detail}}}
//
// The CRC covers magic, version and body. The body is JSON rather than
// span metrics' varints: a minute holds a few groups with strings and small
// sets, so size does not matter and the format stays readable. Unknown
// versions are errors, never guessed at.
const (
	codecMagic   = "CLEG"
	codecVersion = 1
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// CorruptionError reports an undecodable minute object.
type CorruptionError struct{ Reason string }

func (e *CorruptionError) Error() string { return "errgroups: corrupt minute object: " + e.Reason }

type minuteJSON struct {
	Start  int64                `json:"start"`
	Groups map[string]groupJSON `json:"groups"`
}

type groupJSON struct {
	Info   Info    `json:"info"`
	Detail *detail `json:"detail"`
}

func encodeMinute(m *minute) ([]byte, error) {
	j := minuteJSON{Start: m.Start.Unix(), Groups: make(map[string]groupJSON, len(m.Groups))}
	for id, d := range m.Groups {
		j.Groups[id] = groupJSON{Info: m.Infos[id], Detail: d}
	}
	body, err := json.Marshal(j) // map keys are sorted: equal minutes encode identically
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 5+len(body)+4)
	b = append(b, codecMagic...)
	b = append(b, codecVersion)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable)), nil
}

func decodeMinute(b []byte) (*minute, error) {
	if len(b) < 9 || string(b[:4]) != codecMagic {
		return nil, &CorruptionError{Reason: "bad magic or too short"}
	}
	if b[4] != codecVersion {
		return nil, fmt.Errorf("errgroups: minute object version %d is not supported (this Clew reads %d)", b[4], codecVersion)
	}
	n := len(b) - 4
	if crc32.Checksum(b[:n], crcTable) != binary.LittleEndian.Uint32(b[n:]) {
		return nil, &CorruptionError{Reason: "checksum mismatch"}
	}
	var j minuteJSON
	if err := json.Unmarshal(b[5:n], &j); err != nil {
		return nil, &CorruptionError{Reason: err.Error()}
	}
	m := newMinute(time.Unix(j.Start, 0).UTC())
	for id, g := range j.Groups {
		if g.Detail == nil {
			return nil, &CorruptionError{Reason: "group " + id + " without detail"}
		}
		m.Infos[id] = g.Info
		m.Groups[id] = g.Detail
	}
	return m, nil
}
