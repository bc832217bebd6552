package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/client"
	"github.com/cloudskin/cloudskin/config"
	"github.com/cloudskin/cloudskin/continuum"
	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/streamapi"
	"github.com/cloudskin/cloudskin/stream/tcp"
)

func newStreamCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stream",
		Short: "Create, write, read and tail streams in the stream store",
		Long: `The stream store keeps ordered, durable streams of events (Pravega's model):
a stream's routing keys are spread over segments, events with one key keep
their order, and an append is acknowledged only once it is on disk. Old data
moves to long-term storage on its own. 'cloudskin up' runs the store (and
serves its TCP protocol on --stream-listen), as does 'cloudskin stream serve'
on its own; these commands talk that protocol to --server, which here is the
stream store's host:port (default ` + tcp.DefaultAddr + `), not the control plane's
URL. The token is $CLOUDSKIN_TOKEN, else the client config's (needed to
write when the store checks tokens).`,
	}
	// This --server shadows the global one (the control plane's URL) for
	// every stream command: cobra takes a command's own persistent flag over
	// a parent's of the same name.
	cmd.PersistentFlags().String("server", tcp.DefaultAddr, "address (host:port) of the stream store's TCP protocol")
	cmd.AddCommand(
		newStreamCreateCommand(g), newStreamListCommand(g), newStreamDescribeCommand(g),
		newStreamWriteCommand(g), newStreamReadCommand(g, false), newStreamReadCommand(g, true),
		newStreamDeleteCommand(g), newStreamServeCommand(g), newStreamBenchCommand(g),
		newStreamVideoCommand(g),
	)
	return cmd
}

// streamConn dials the stream store at the stream command's --server.
func (g *globals) streamConn(cmd *cobra.Command) (*tcp.Client, error) {
	addr, err := cmd.Flags().GetString("server")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
	defer cancel()
	c, err := tcp.Dial(ctx, addr, tcp.DialOptions{Token: g.streamToken()})
	if err != nil {
		return nil, fmt.Errorf("%w (is a stream store listening there? 'cloudskin up' and 'cloudskin stream serve' listen on %s unless told otherwise; --server sets the address)", err, tcp.DefaultAddr)
	}
	return c, nil
}

// streamToken is $CLOUDSKIN_TOKEN, else the token of the client config
// that `up` wrote, else none (enough to read, and to write to a store that
// does not check tokens).
func (g *globals) streamToken() string {
	if t := os.Getenv(client.EnvToken); t != "" {
		return t
	}
	if cc, err := config.LoadClientConfig(filepath.Join(g.dataDir, continuum.ClientConfigFile)); err == nil {
		return cc.Spec.Token
	}
	return ""
}

func (g *globals) streamConnArgs(cmd *cobra.Command, args []string) (*tcp.Client, stream.StreamName, error) {
	name, err := streamapi.ParseStreamName(args[0])
	if err != nil {
		return nil, name, err
	}
	c, err := g.streamConn(cmd)
	return c, name, err
}

func newStreamCreateCommand(g *globals) *cobra.Command {
	var cfg stream.StreamConfig
	cmd := &cobra.Command{
		Use:   "create SCOPE/STREAM",
		Short: "Create a stream (and its scope, if new)",
		Example: `  cloudskin stream create surgery/cams --segments 4
  cloudskin stream create surgery/cams --max-age 24h --max-bytes 10000000000
  cloudskin stream create surgery/cams --server 10.0.0.5:7072`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, name, err := g.streamConnArgs(cmd, args)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.CreateScope(cmd.Context(), name.Scope); err != nil && !errors.Is(err, stream.ErrExists) {
				return err
			}
			st, err := c.CreateStream(cmd.Context(), name, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created stream %s with %d segments\n", st.Name, len(st.Segments))
			return nil
		},
	}
	cmd.Flags().IntVar(&cfg.Segments, "segments", 1, "number of segments the routing keys are spread over")
	cmd.Flags().DurationVar(&cfg.Retention.MaxAge, "max-age", 0, "retention: discard events older than this (0 keeps them)")
	cmd.Flags().Int64Var(&cfg.Retention.MaxBytes, "max-bytes", 0, "retention: discard the oldest events beyond this many bytes (0: no limit)")
	return cmd
}

func newStreamListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "ls [SCOPE]",
		Short:   "List streams, of every scope or of one",
		Example: "  cloudskin stream ls\n  cloudskin stream ls surgery",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.streamConn(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			scopes := args
			if len(scopes) == 0 {
				if scopes, err = c.Scopes(cmd.Context()); err != nil {
					return err
				}
			}
			for _, scope := range scopes {
				names, err := c.Streams(cmd.Context(), scope)
				if err != nil {
					return err
				}
				for _, n := range names {
					fmt.Fprintf(cmd.OutOrStdout(), "%s/%s\n", scope, n)
				}
			}
			return nil
		},
	}
}

func newStreamDescribeCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "describe SCOPE/STREAM",
		Short:   "Show a stream's configuration and segments",
		Example: "  cloudskin stream describe surgery/cams",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, name, err := g.streamConnArgs(cmd, args)
			if err != nil {
				return err
			}
			defer c.Close()
			st, err := c.Stream(cmd.Context(), name)
			if err != nil {
				return err
			}
			printStream(cmd.OutOrStdout(), st)
			return nil
		},
	}
}

func printStream(w io.Writer, st stream.StreamInfo) {
	fmt.Fprintf(w, "Stream:     %s\nCreated:    %s\n", st.Name, st.Created.Format(time.RFC3339))
	ret := "keep everything"
	if r := st.Config.Retention; !r.IsZero() {
		ret = fmt.Sprintf("max age %s, max bytes %d", orNone(r.MaxAge), r.MaxBytes)
	}
	fmt.Fprintf(w, "Retention:  %s\n", ret)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEGMENT\tID\tKEYS\tSTART\tEND\tBYTES")
	for _, s := range st.Segments {
		fmt.Fprintf(tw, "%s\t%d\t[%.4g, %.4g)\t%d\t%d\t%d\n", s.ID, uint64(s.ID), s.Range.Low, s.Range.High, s.Start, s.End, s.End-s.Start)
	}
	tw.Flush()
}

func orNone(d time.Duration) string {
	if d == 0 {
		return "none"
	}
	return d.String()
}

func newStreamDeleteCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "delete SCOPE/STREAM",
		Short:   "Delete a stream and all its data",
		Example: "  cloudskin stream delete surgery/cams",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, name, err := g.streamConnArgs(cmd, args)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.DeleteStream(cmd.Context(), name); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted stream %s\n", name)
			return nil
		},
	}
}

// Appends from `stream write` carry at most this many lines or bytes, and
// at most writeWindow of them are in flight at once.
const (
	writeBatchLines = 256
	writeBatchBytes = 1 << 20
	writeWindow     = 64
)

func newStreamWriteCommand(g *globals) *cobra.Command {
	var key string
	var whole bool
	cmd := &cobra.Command{
		Use:   "write SCOPE/STREAM [--key K] [--whole]",
		Short: "Append events read from stdin, one per line (or all of stdin as one)",
		Long: `Append the lines of stdin as events (without their newlines), or with --whole
all of stdin as one event (a file). For each acknowledged event it prints
the input line number, a tab and the event's position SEGMENT:OFFSET (the
segment's numeric id), in input order, so a script knows exactly what is
stored. Lines that arrive together are sent in one atomic append, and
appends are pipelined: up to 64 are in flight while earlier ones become
durable. The appends are idempotent (a writer id and sequence numbers), so
when the store pushes back because its local disk budget is full, they are
sent again, from the first one pushed back, until it takes them.`,
		Example: `  seq 1 1000 | cloudskin stream write surgery/cams --key camera-1
  cloudskin stream write surgery/frames --whole < frame-0001.jpg
  tail -f app.log | cloudskin stream write logs/app --server 10.0.0.5:7072`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, name, err := g.streamConnArgs(cmd, args)
			if err != nil {
				return err
			}
			defer c.Close()
			w := &cliWriter{c: c, name: name, key: key, id: randomWriterID(), out: cmd.OutOrStdout()}
			if whole {
				data, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return fmt.Errorf("read stdin: %w", err)
				}
				if err := w.send(cmd.Context(), [][]byte{data}); err != nil {
					return err
				}
				return w.drain(cmd.Context(), 0)
			}
			return w.writeLines(cmd.Context(), cmd.InOrStdin())
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "routing key: events with one key go to one segment, in order")
	cmd.Flags().BoolVar(&whole, "whole", false, "append all of stdin as one event")
	return cmd
}

func randomWriterID() string {
	var b [6]byte
	rand.Read(b[:])
	return "cli-" + hex.EncodeToString(b[:])
}

// cliWriter appends batches of events with one writer id and growing
// sequence numbers, keeps up to writeWindow of them in flight, and prints
// what was acknowledged, in order.
type cliWriter struct {
	c    *tcp.Client
	name stream.StreamName
	key  string
	id   string
	seq  int64
	line int // lines printed
	out  io.Writer

	window []*inFlight // sent, not yet printed, in order
}

// inFlight is one append sent and not yet acknowledged.
type inFlight struct {
	req stream.AppendRequest
	p   *tcp.PendingAppend
}

// writeLines sends stdin's lines, batching the ones already read.
func (w *cliWriter) writeLines(ctx context.Context, in io.Reader) error {
	lines := make(chan []byte, writeBatchLines)
	readErr := make(chan error, 1)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), stream.MaxAppendBytes)
		for sc.Scan() {
			lines <- append([]byte(nil), sc.Bytes()...)
		}
		readErr <- sc.Err()
	}()
	for first := range lines {
		batch, size := [][]byte{first}, len(first)
	fill:
		for len(batch) < writeBatchLines && size < writeBatchBytes {
			select {
			case l, ok := <-lines:
				if !ok {
					break fill
				}
				batch, size = append(batch, l), size+len(l)
			default:
				break fill
			}
		}
		if err := w.send(ctx, batch); err != nil {
			return err
		}
		// Print what is acknowledged already; wait only for a full window.
		if err := w.drain(ctx, writeWindow-1); err != nil {
			return err
		}
	}
	if err := w.drain(ctx, 0); err != nil {
		return err
	}
	if err := <-readErr; err != nil {
		return fmt.Errorf("read stdin after line %d: %w", w.line, err)
	}
	return nil
}

// send sends one batch without waiting for it.
func (w *cliWriter) send(ctx context.Context, events [][]byte) error {
	w.seq++
	req := stream.AppendRequest{Stream: w.name, RoutingKey: w.key, Events: events, WriterID: w.id, Seq: w.seq}
	p, err := w.c.AppendAsync(ctx, req)
	if err != nil {
		return err
	}
	w.window = append(w.window, &inFlight{req: req, p: p})
	return nil
}

// drain prints acknowledged appends in order until at most keep are in
// flight, waiting for the oldest when there are more. When the store
// pushes one back, the server refuses the ones sent after it untried, so
// all from it on are sent again, in order, after a pause.
func (w *cliWriter) drain(ctx context.Context, keep int) error {
	delay := 100 * time.Millisecond
	for len(w.window) > 0 {
		head := w.window[0]
		if len(w.window) <= keep {
			select {
			case <-head.p.Done():
			default:
				return nil
			}
		}
		res, err := head.p.Wait(ctx)
		if errors.Is(err, stream.ErrBackPressure) {
			fmt.Fprintf(os.Stderr, "the store pushes back (%v); sending again in %s\n", err, delay)
			if err := w.resend(ctx, delay); err != nil {
				return err
			}
			delay = min(2*delay, 5*time.Second)
			continue
		}
		if err != nil {
			return fmt.Errorf("append lines %d to %d: %w", w.line+1, w.line+len(head.req.Events), err)
		}
		delay = 100 * time.Millisecond
		w.window = w.window[1:]
		w.print(res, head.req.Events)
	}
	return nil
}

// resend waits for every append in flight to be answered (the ones after
// a pushed-back one are refused), then, after delay, sends them all again.
func (w *cliWriter) resend(ctx context.Context, delay time.Duration) error {
	for _, f := range w.window {
		select {
		case <-f.p.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(delay):
	}
	for _, f := range w.window {
		p, err := w.c.AppendAsync(ctx, f.req)
		if err != nil {
			return err
		}
		f.p = p
	}
	return nil
}

func (w *cliWriter) print(res stream.AppendResult, events [][]byte) {
	off := res.Offset
	for _, e := range events {
		w.line++
		if res.Duplicate {
			// Stored by an earlier try; where is not known here.
			fmt.Fprintf(w.out, "%d\t%d:duplicate\n", w.line, uint64(res.Segment))
			continue
		}
		fmt.Fprintf(w.out, "%d\t%d:%d\n", w.line, uint64(res.Segment), off)
		off += 4 + int64(len(e))
	}
}

func newStreamReadCommand(g *globals, tail bool) *cobra.Command {
	var from string
	var count int
	var follow, positions bool
	cmd := &cobra.Command{
		Use:   "read SCOPE/STREAM [--from start|tail|POSITION] [--count N] [--follow]",
		Short: "Print a stream's events, one per line",
		Long: `Print the events of every segment of a stream, one per line, from the start
(or --from tail: only new ones; or --from SEGMENT:OFFSET[,SEGMENT:OFFSET...],
positions as 'stream write' and --positions print them: only those segments,
from there). Without --follow it stops at the end of the data there is now;
with --follow it waits for new events until interrupted or --count events
were printed. Events of one routing key come in order; segments are read one
after the other (or side by side, over one connection, with --follow).`,
		Example: `  cloudskin stream read surgery/cams
  cloudskin stream read surgery/cams --count 10 --positions
  cloudskin stream read surgery/cams --from 0:4096 --follow`,
		Args: cobra.ExactArgs(1),
	}
	if tail {
		cmd.Use = "tail SCOPE/STREAM [--count N]"
		cmd.Short = "Print new events of a stream as they arrive (read --from tail --follow)"
		cmd.Long = "Wait for new events in every segment of a stream and print them, one per line,\nuntil interrupted or --count events were printed."
		cmd.Example = "  cloudskin stream tail surgery/cams\n  cloudskin stream tail surgery/cams --count 1"
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if tail {
			from, follow = "tail", true
		}
		name, err := streamapi.ParseStreamName(args[0])
		if err != nil {
			return err
		}
		start, err := parseFrom(from)
		if err != nil {
			return err
		}
		c, err := g.streamConn(cmd)
		if err != nil {
			return err
		}
		defer c.Close()
		st, err := c.Stream(cmd.Context(), name)
		if err != nil {
			return err
		}
		r := &cliReader{c: c, name: name, out: cmd.OutOrStdout(), positions: positions, limit: count}
		return r.run(cmd.Context(), st, start, follow)
	}
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many events (0: no limit)")
	cmd.Flags().BoolVar(&positions, "positions", false, "print SEGMENT:OFFSET and a tab before each event")
	if !tail {
		cmd.Flags().StringVar(&from, "from", "start", "where to start: start, tail, or SEGMENT:OFFSET[,SEGMENT:OFFSET...]")
		cmd.Flags().BoolVar(&follow, "follow", false, "keep waiting for new events")
	}
	return cmd
}

// readFrom is where `stream read` starts: every segment's start or end,
// or the offsets of some segments (cut).
type readFrom struct {
	tail bool
	cut  stream.StreamCut
}

// parseFrom parses --from.
func parseFrom(v string) (readFrom, error) {
	switch v {
	case "start":
		return readFrom{}, nil
	case "tail":
		return readFrom{tail: true}, nil
	}
	cut := stream.StreamCut{}
	for _, p := range strings.Split(v, ",") {
		seg, off, ok := strings.Cut(p, ":")
		id, err1 := strconv.ParseUint(seg, 10, 64)
		o, err2 := strconv.ParseInt(off, 10, 64)
		if !ok || err1 != nil || err2 != nil || o < 0 {
			return readFrom{}, fmt.Errorf("--from %q: want start, tail, or SEGMENT:OFFSET[,SEGMENT:OFFSET...] with numbers, as 'stream write' prints positions", v)
		}
		cut[stream.SegmentID(id)] = o
	}
	return readFrom{cut: cut}, nil
}

// cliReader prints the events of a stream's segments.
type cliReader struct {
	c         *tcp.Client
	name      stream.StreamName
	out       io.Writer
	positions bool
	limit     int

	mu      sync.Mutex
	printed int
}

// segmentRead is one segment to print: from an offset to an end (or for
// ever, if end < 0).
type segmentRead struct {
	id        stream.SegmentID
	from, end int64
}

// plan decides what to read of each segment.
func (st readFrom) plan(info stream.StreamInfo, follow bool) ([]segmentRead, error) {
	var out []segmentRead
	for _, seg := range info.Segments {
		r := segmentRead{id: seg.ID, from: seg.Start, end: seg.End}
		if st.tail {
			r.from = seg.End
		}
		if st.cut != nil {
			off, ok := st.cut[seg.ID]
			if !ok {
				continue
			}
			r.from = off
		}
		if follow {
			r.end = -1
		}
		out = append(out, r)
	}
	for id := range st.cut {
		if !slices.ContainsFunc(out, func(r segmentRead) bool { return r.id == id }) {
			return nil, fmt.Errorf("--from: stream %s has no segment %d: %w", info.Name, uint64(id), stream.ErrNotFound)
		}
	}
	return out, nil
}

func (r *cliReader) run(ctx context.Context, info stream.StreamInfo, start readFrom, follow bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reads, err := start.plan(info, follow)
	if err != nil {
		return err
	}
	if !follow {
		for _, sr := range reads {
			if err := r.readSegment(ctx, sr); err != nil {
				return r.done(ctx, err)
			}
		}
		return nil
	}
	errs := make(chan error, len(reads))
	for _, sr := range reads {
		go func() { errs <- r.readSegment(ctx, sr) }()
	}
	var first error
	for range reads {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel() // one segment is done (count reached, or failed): stop the others
		}
	}
	return r.done(ctx, first)
}

// errEnough says --count events were printed.
var errEnough = errors.New("printed enough events")

// done turns the end of reading into the command's result: reaching
// --count or being interrupted while following is success.
func (r *cliReader) done(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, errEnough) || (ctx.Err() != nil && r.limit == 0) {
		return nil
	}
	return err
}

// readSegment prints a segment's events from sr.from until sr.end (or for
// ever, if sr.end < 0).
func (r *cliReader) readSegment(ctx context.Context, sr segmentRead) error {
	for from := sr.from; sr.end < 0 || from < sr.end; {
		batch, err := r.c.ReadSegment(ctx, r.name, sr.id, from, stream.ReadOptions{NoWait: sr.end >= 0})
		if err != nil {
			return err
		}
		for _, e := range batch.Events {
			if sr.end >= 0 && e.Offset >= sr.end {
				return nil
			}
			if err := r.print(e); err != nil {
				return err
			}
		}
		if len(batch.Events) == 0 && sr.end >= 0 {
			return nil // truncated meanwhile, or no more
		}
		from = batch.Next
	}
	return nil
}

func (r *cliReader) print(e stream.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.limit > 0 && r.printed >= r.limit {
		return errEnough
	}
	var b strings.Builder
	if r.positions {
		b.WriteString(strconv.FormatUint(uint64(e.Segment), 10) + ":" + strconv.FormatInt(e.Offset, 10) + "\t")
	}
	b.Write(e.Data)
	b.WriteByte('\n')
	if _, err := io.WriteString(r.out, b.String()); err != nil {
		return err
	}
	r.printed++
	if r.limit > 0 && r.printed >= r.limit {
		return errEnough
	}
	return nil
}
