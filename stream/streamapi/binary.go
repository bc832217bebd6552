package streamapi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudskin/cloudskin/internal/httpapi"
	"github.com/cloudskin/cloudskin/stream"
)

// The binary forms of append and segment read (docs/formats/stream-api.md,
// "Binary events"): JSON carries event bytes as base64, which costs more
// CPU than the store itself for video frames, so a client may send one
// event as the raw body and read events as length-prefixed records.

// BinaryType is the media type of the binary forms.
const BinaryType = "application/octet-stream"

// recordHeader is a read record's fixed part: offset, next offset and
// time (Unix nanoseconds), int64 each, and the data length, uint32.
const recordHeader = 8 + 8 + 8 + 4

// HeaderNext carries a binary read's next offset.
const HeaderNext = "X-Stream-Next"

// HeaderSealed ("true") says a binary read's next offset is the end of a
// sealed segment; HeaderSuccessors lists the segments that succeed it, as
// comma-separated decimal ids.
const (
	HeaderSealed     = "X-Stream-Sealed"
	HeaderSuccessors = "X-Stream-Successors"
)

func isBinary(mediaType string) bool {
	t, _, err := mime.ParseMediaType(mediaType)
	return err == nil && t == BinaryType
}

// binaryAppend reads a binary append: the body is one event; the routing
// key, writer id and sequence number come from the query (key, writer, seq).
func binaryAppend(r *http.Request) (AppendRequest, error) {
	q := r.URL.Query()
	req := AppendRequest{RoutingKey: q.Get("key"), WriterID: q.Get("writer")}
	if v := q.Get("seq"); v != "" {
		seq, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return req, httpapi.BadRequest(fmt.Errorf("seq %q: want an integer", v))
		}
		req.Seq = seq
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, stream.MaxAppendBytes+1))
	if err != nil {
		return req, httpapi.BadRequest(fmt.Errorf("request body: %w", err))
	}
	if len(data) > stream.MaxAppendBytes {
		return req, httpapi.BadRequest(fmt.Errorf("event of more than %d bytes", stream.MaxAppendBytes))
	}
	req.Events = [][]byte{data}
	return req, nil
}

// rawBody is an answer written as bytes, not JSON.
type rawBody struct {
	contentType string
	header      http.Header
	data        []byte
}

func (b rawBody) write(w http.ResponseWriter, code int) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", b.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b.data)))
	w.WriteHeader(code)
	w.Write(b.data)
}

// encodeEvents is a segment read's binary answer.
func encodeEvents(b stream.Batch) rawBody {
	size := 0
	for _, e := range b.Events {
		size += recordHeader + len(e.Data)
	}
	out := make([]byte, 0, size)
	for _, e := range b.Events {
		out = binary.LittleEndian.AppendUint64(out, uint64(e.Offset))
		out = binary.LittleEndian.AppendUint64(out, uint64(e.Next))
		out = binary.LittleEndian.AppendUint64(out, uint64(e.Time.UnixNano()))
		out = binary.LittleEndian.AppendUint32(out, uint32(len(e.Data)))
		out = append(out, e.Data...)
	}
	header := http.Header{HeaderNext: {strconv.FormatInt(b.Next, 10)}}
	if b.Sealed {
		succ := make([]string, len(b.Successors))
		for i, id := range b.Successors {
			succ[i] = strconv.FormatUint(uint64(id), 10)
		}
		header.Set(HeaderSealed, "true")
		header.Set(HeaderSuccessors, strings.Join(succ, ","))
	}
	return rawBody{contentType: BinaryType, header: header, data: out}
}

// sealedFrom reads a binary read's sealed and successors headers.
func sealedFrom(h http.Header) (bool, []uint64, error) {
	if h.Get(HeaderSealed) != "true" {
		return false, nil, nil
	}
	var out []uint64
	for f := range strings.SplitSeq(h.Get(HeaderSuccessors), ",") {
		if f == "" {
			continue
		}
		id, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return true, nil, fmt.Errorf("stream api: %s header %q: %w", HeaderSuccessors, h.Get(HeaderSuccessors), err)
		}
		out = append(out, id)
	}
	return true, out, nil
}

// DecodeEvents decodes a binary segment read of segment.
func DecodeEvents(segment uint64, data []byte) ([]Event, error) {
	var out []Event
	for len(data) > 0 {
		if len(data) < recordHeader {
			return nil, errors.New("stream api: binary events: a record is cut short")
		}
		n := binary.LittleEndian.Uint32(data[24:28])
		if uint64(len(data)-recordHeader) < uint64(n) {
			return nil, fmt.Errorf("stream api: binary events: a record of %d bytes has only %d", n, len(data)-recordHeader)
		}
		out = append(out, Event{
			Segment: segment,
			Offset:  int64(binary.LittleEndian.Uint64(data[0:8])),
			Next:    int64(binary.LittleEndian.Uint64(data[8:16])),
			Time:    time.Unix(0, int64(binary.LittleEndian.Uint64(data[16:24]))).UTC(),
			Data:    data[recordHeader : recordHeader+int(n)],
		})
		data = data[recordHeader+int(n):]
	}
	return out, nil
}
