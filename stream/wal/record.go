package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Type says what a record holds. The log does not interpret it; the caller
// picks its own values. Type 0 is reserved: it is what a zero-filled block of
// disk looks like, so a record of type 0 is always treated as damage.
type Type uint8

// Record is one entry of the log as the caller sees it.
type Record struct {
	Type Type
	Data []byte
}

// Address is the position of a record in the log: the number of record bytes
// (frames, not file headers) written before it since the log was created.
// Addresses only grow, so comparing two tells which record came first.
type Address uint64

// Frame layout, little endian (see docs/formats/stream-wal.md):
//
//	0  4  header CRC-32C over the record's address (8 bytes) and bytes 4..13
//	4  4  payload length
//	8  1  type
//	9  4  payload CRC-32C
//	13 .. payload
//
// The header has its own checksum so recovery can test any byte position
// for "is a record starting here?" in constant time, and the address is
// part of that checksum so a record copied to the wrong place, or bytes that
// merely look like a record, never pass.
const frameHeaderSize = 13

// MaxRecordSize is the largest payload a record may have. It is part of the
// format: recovery relies on it to bound how far a torn write can reach.
const MaxRecordSize = 16 << 20

// ErrCorrupt is wrapped by every error about damaged log bytes.
var ErrCorrupt = errors.New("corrupt log")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// FrameSize is how many bytes a record with an n-byte payload takes in the log.
func FrameSize(n int) int { return frameHeaderSize + n }

// AppendRecord appends rec, framed for address addr, to dst.
func AppendRecord(dst []byte, addr Address, rec Record) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeaderSize)...)
	h := dst[start : start+frameHeaderSize]
	binary.LittleEndian.PutUint32(h[4:8], uint32(len(rec.Data)))
	h[8] = byte(rec.Type)
	binary.LittleEndian.PutUint32(h[9:13], crc32.Checksum(rec.Data, castagnoli))
	binary.LittleEndian.PutUint32(h[0:4], headerCRC(addr, h))
	return append(dst, rec.Data...)
}

func headerCRC(addr Address, h []byte) uint32 {
	var a [8]byte
	binary.LittleEndian.PutUint64(a[:], uint64(addr))
	crc := crc32.Update(0, castagnoli, a[:])
	return crc32.Update(crc, castagnoli, h[4:frameHeaderSize])
}

// frameHeader is a decoded, checked frame header.
type frameHeader struct {
	length     int
	typ        Type
	payloadCRC uint32
}

// decodeHeader checks the header at the start of b for address addr. It
// returns io.ErrUnexpectedEOF when b is shorter than a header.
func decodeHeader(b []byte, addr Address) (frameHeader, error) {
	if len(b) < frameHeaderSize {
		return frameHeader{}, io.ErrUnexpectedEOF
	}
	h := b[:frameHeaderSize]
	if got, want := binary.LittleEndian.Uint32(h[0:4]), headerCRC(addr, h); got != want {
		return frameHeader{}, fmt.Errorf("record at address %d: header checksum %08x, want %08x: %w", addr, got, want, ErrCorrupt)
	}
	fh := frameHeader{
		length:     int(binary.LittleEndian.Uint32(h[4:8])),
		typ:        Type(h[8]),
		payloadCRC: binary.LittleEndian.Uint32(h[9:13]),
	}
	if fh.typ == 0 {
		return frameHeader{}, fmt.Errorf("record at address %d: type 0 is reserved: %w", addr, ErrCorrupt)
	}
	if fh.length > MaxRecordSize {
		return frameHeader{}, fmt.Errorf("record at address %d: length %d exceeds the maximum %d: %w", addr, fh.length, MaxRecordSize, ErrCorrupt)
	}
	return fh, nil
}

func checkPayload(fh frameHeader, payload []byte, addr Address) error {
	if got := crc32.Checksum(payload, castagnoli); got != fh.payloadCRC {
		return fmt.Errorf("record at address %d: payload checksum %08x, want %08x: %w", addr, got, fh.payloadCRC, ErrCorrupt)
	}
	return nil
}

// DecodeRecord decodes the record framed at the start of b, which must have
// been written at address addr. It returns the record (its Data aliases b)
// and the frame's size. A b that ends inside the frame gives an error
// wrapping io.ErrUnexpectedEOF; damaged bytes give one wrapping ErrCorrupt.
func DecodeRecord(b []byte, addr Address) (Record, int, error) {
	fh, err := decodeHeader(b, addr)
	if err != nil {
		return Record{}, 0, err
	}
	n := frameHeaderSize + fh.length
	if len(b) < n {
		return Record{}, 0, fmt.Errorf("record at address %d: %d of %d bytes present: %w", addr, len(b), n, io.ErrUnexpectedEOF)
	}
	payload := b[frameHeaderSize:n]
	if err := checkPayload(fh, payload, addr); err != nil {
		return Record{}, 0, err
	}
	return Record{Type: fh.typ, Data: payload}, n, nil
}
