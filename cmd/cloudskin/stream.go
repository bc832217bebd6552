package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
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
		newStreamDeleteCommand(g), newStreamTruncateCommand(g), newStreamScaleCommand(g), newStreamInstancesCommand(g),
		newStreamServeCommand(g), newStreamBenchCommand(g), newStreamVideoCommand(g),
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
	var policy string
	cmd := &cobra.Command{
		Use:   "create SCOPE/STREAM [--segments N] [--scale-policy POLICY]",
		Short: "Create a stream (and its scope, if new)",
		Long: `Create a stream with --segments segments (its routing keys spread over them)
and, with --scale-policy, let the store split and merge them by itself:

  fixed                          keep the segments (the default; 'stream
                                 scale' still changes them)
  events:RATE[,factor=N][,min=N] keep each segment near RATE events/s
  bytes:RATE[,factor=N][,min=N]  keep each segment near RATE bytes/s; RATE
                                 may end in B, kB, MB, GB (powers of 1000)
                                 or KiB, MiB, GiB (powers of 1024)

A segment whose rate stays above RATE is split into factor parts (default
2); two neighbours both below half of it are merged, down to min segments
(default: --segments).`,
		Example: `  cloudskin stream create surgery/cams --segments 4
  cloudskin stream create surgery/cams --scale-policy events:1000
  cloudskin stream create surgery/frames --scale-policy bytes:10MiB,factor=2,min=1
  cloudskin stream create surgery/cams --max-age 24h --max-bytes 10000000000
  cloudskin stream create surgery/cams --server 10.0.0.5:7072`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if cfg.Scaling, err = parseScalePolicy(policy); err != nil {
				return err
			}
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
	cmd.Flags().StringVar(&policy, "scale-policy", "fixed", "auto-scaling: fixed, events:RATE[,factor=N][,min=N] or bytes:RATE[,factor=N][,min=N]")
	return cmd
}

func newStreamListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "ls [SCOPE]",
		Short:   "List streams, of every scope or of one ('describe' shows one's segments)",
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
		Use:   "describe SCOPE/STREAM",
		Short: "Show a stream's configuration and segments",
		Long: `Show a stream's configuration (retention, scaling policy), its epoch (one
more after every scale) and its segments: the active ones and the sealed
ones the store still keeps, in read order, each with its epoch, state, key
range, offsets, and the segments it replaced and that replaced it (numeric
ids, as 'stream scale' and 'stream read --from' take them).`,
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
	fmt.Fprintf(w, "Stream:     %s\nCreated:    %s\nEpoch:      %d\n", st.Name, st.Created.Format(time.RFC3339), st.Epoch)
	ret := "keep everything"
	if r := st.Config.Retention; !r.IsZero() {
		ret = fmt.Sprintf("max age %s, max bytes %d", orNone(r.MaxAge), r.MaxBytes)
	}
	fmt.Fprintf(w, "Retention:  %s\nScaling:    %s\n", ret, formatScalePolicy(st.Config.Scaling))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEGMENT\tID\tEPOCH\tSTATE\tKEYS\tSTART\tEND\tBYTES\tPREDECESSORS\tSUCCESSORS")
	for _, s := range stream.ReadOrder(st.Segments) {
		state := "active"
		if s.Sealed {
			state = "sealed"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", s.ID, uint64(s.ID), s.Epoch, state, formatRange(s.Range),
			s.Start, s.End, s.End-s.Start, formatIDs(s.Predecessors), formatIDs(s.Successors))
	}
	tw.Flush()
}

func formatRange(r stream.KeyRange) string { return fmt.Sprintf("[%.4g, %.4g)", r.Low, r.High) }

// formatIDs lists segment ids by number, as the commands take them.
func formatIDs(ids []stream.SegmentID) string {
	if len(ids) == 0 {
		return "-"
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = strconv.FormatUint(uint64(id), 10)
	}
	return strings.Join(out, ",")
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

func newStreamTruncateCommand(g *globals) *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "truncate SCOPE/STREAM --to SEGMENT:OFFSET[,SEGMENT:OFFSET...]",
		Short: "Discard a stream's events before a position",
		Long: `Discard the events of each named segment before its offset (a position as
'stream write' prints them), and with them every segment that only
precedes those. Readers that were behind are moved on; data in long-term
storage goes with the chunks that hold only discarded events. Retention
(--max-age, --max-bytes at create) does the same by itself.`,
		Example: "  cloudskin stream truncate surgery/cams --to 0:4096,1:2048",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cut, err := parseCut("--to", to)
			if err != nil {
				return err
			}
			c, name, err := g.streamConnArgs(cmd, args)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.Truncate(cmd.Context(), name, cut); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "truncated stream %s before %s\n", name, to)
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "SEGMENT:OFFSET[,SEGMENT:OFFSET...]: the first event kept in each segment")
	cmd.MarkFlagRequired("to")
	return cmd
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
		Long: `Print the events of a stream, one per line, from the start (or --from tail:
only new ones; or --from SEGMENT:OFFSET[,SEGMENT:OFFSET...], positions as
'stream write' and --positions print them: those segments from there on,
then the segments that replaced them, and no others). Without --follow it
stops at the end of the data there is now; with --follow it waits for new
events until interrupted or --count events were printed.

Events of one routing key come in the order they were written, across
scales too: a segment that replaced others (after a split or a merge) is
printed only once they are read to their end. Without --follow segments
are read one after the other in that order; with --follow the segments that
take appends are read side by side, over one connection, and when one is
sealed the reader moves on to the segments that replaced it.`,
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
		r := &cliReader{c: c, name: name, out: cmd.OutOrStdout(), warn: cmd.ErrOrStderr(), positions: positions, limit: count}
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
	cut, err := parseCut("--from", v)
	if err != nil {
		return readFrom{}, fmt.Errorf("%w (or start, or tail)", err)
	}
	return readFrom{cut: cut}, nil
}

// parseCut reads positions SEGMENT:OFFSET[,SEGMENT:OFFSET...], as 'stream
// write' prints them, given with flag.
func parseCut(flag, v string) (stream.StreamCut, error) {
	cut := stream.StreamCut{}
	for _, p := range strings.Split(v, ",") {
		seg, off, ok := strings.Cut(p, ":")
		id, err1 := strconv.ParseUint(seg, 10, 64)
		o, err2 := strconv.ParseInt(off, 10, 64)
		if !ok || err1 != nil || err2 != nil || o < 0 {
			return nil, fmt.Errorf("%s %q: want SEGMENT:OFFSET[,SEGMENT:OFFSET...] with numbers, as 'stream write' prints positions", flag, v)
		}
		cut[stream.SegmentID(id)] = o
	}
	return cut, nil
}

// readPlan decides which segments `stream read` prints and from where,
// including segments that scales create while it reads: a segment is read
// from its start if a segment it replaced is read (its keys' events go on
// there), and skipped otherwise.
type readPlan struct {
	known    map[stream.SegmentID]stream.SegmentInfo
	from     map[stream.SegmentID]int64 // the segments read, and where from
	started  map[stream.SegmentID]bool
	finished map[stream.SegmentID]bool // read to their sealed end
}

func newReadPlan(info stream.StreamInfo, start readFrom) (*readPlan, error) {
	p := &readPlan{known: map[stream.SegmentID]stream.SegmentInfo{}, from: map[stream.SegmentID]int64{},
		started: map[stream.SegmentID]bool{}, finished: map[stream.SegmentID]bool{}}
	for id := range start.cut {
		if !slices.ContainsFunc(info.Segments, func(s stream.SegmentInfo) bool { return s.ID == id }) {
			return nil, fmt.Errorf("--from: stream %s has no segment %d: %w", info.Name, uint64(id), stream.ErrNotFound)
		}
	}
	for _, seg := range stream.ReadOrder(info.Segments) {
		p.known[seg.ID] = seg
		switch {
		case start.cut != nil:
			if off, ok := start.cut[seg.ID]; ok {
				p.from[seg.ID] = off
			} else if p.replacesRead(seg) {
				p.from[seg.ID] = seg.Start
			}
		case start.tail:
			if !seg.Sealed {
				p.from[seg.ID] = seg.End
			}
		default:
			p.from[seg.ID] = seg.Start
		}
	}
	return p, nil
}

// replacesRead reports whether seg replaced a segment that is read.
func (p *readPlan) replacesRead(seg stream.SegmentInfo) bool {
	return slices.ContainsFunc(seg.Predecessors, func(id stream.SegmentID) bool { _, ok := p.from[id]; return ok })
}

// learn adds the segments of a newer description.
func (p *readPlan) learn(info stream.StreamInfo) {
	for _, seg := range stream.ReadOrder(info.Segments) {
		if _, ok := p.known[seg.ID]; ok {
			continue
		}
		p.known[seg.ID] = seg
		if p.replacesRead(seg) {
			p.from[seg.ID] = seg.Start
		}
	}
}

func (p *readPlan) knows(ids []stream.SegmentID) bool {
	for _, id := range ids {
		if _, ok := p.known[id]; !ok {
			return false
		}
	}
	return true
}

// ready returns the segments to start reading now, in read order: those
// read, not started, and whose predecessors are read to their end (or
// not read at all, or gone).
func (p *readPlan) ready() []segmentRead {
	var out []segmentRead
	for _, seg := range stream.ReadOrder(slices.Collect(maps.Values(p.known))) {
		from, read := p.from[seg.ID]
		if !read || p.started[seg.ID] {
			continue
		}
		waits := slices.ContainsFunc(seg.Predecessors, func(id stream.SegmentID) bool {
			_, isRead := p.from[id]
			return isRead && !p.finished[id]
		})
		if !waits {
			p.started[seg.ID] = true
			out = append(out, segmentRead{id: seg.ID, from: from, end: -1})
		}
	}
	return out
}

// cliReader prints the events of a stream's segments.
type cliReader struct {
	c         *tcp.Client
	name      stream.StreamName
	out       io.Writer
	warn      io.Writer // where skipped data is reported
	positions bool
	limit     int

	mu      sync.Mutex
	printed int
}

// segmentRead is one segment to print: from an offset to an end (or, if
// end < 0, until it is sealed).
type segmentRead struct {
	id        stream.SegmentID
	from, end int64
}

func (r *cliReader) run(ctx context.Context, info stream.StreamInfo, start readFrom, follow bool) error {
	plan, err := newReadPlan(info, start)
	if err != nil {
		return err
	}
	if follow {
		return r.follow(ctx, plan)
	}
	// Up to the end there is now, one segment after the other in read
	// order, which puts every segment after those it replaced.
	for _, seg := range stream.ReadOrder(info.Segments) {
		from, read := plan.from[seg.ID]
		if !read {
			continue
		}
		if _, err := r.readSegment(ctx, segmentRead{id: seg.ID, from: from, end: seg.End}); err != nil {
			return r.done(ctx, err)
		}
	}
	return nil
}

// follow reads the plan's segments side by side as they become ready,
// each until it is sealed, then moves on to its successors once all of
// their predecessors are read to their end.
func (r *cliReader) follow(ctx context.Context, plan *readPlan) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type ended struct {
		id         stream.SegmentID
		successors []stream.SegmentID
		err        error
	}
	ends := make(chan ended)
	running := 0
	startReady := func() {
		for _, sr := range plan.ready() {
			running++
			go func() {
				succ, err := r.readSegment(ctx, sr)
				ends <- ended{sr.id, succ, err}
			}()
		}
	}
	startReady()
	var first error
	fail := func(err error) {
		if first == nil {
			first = err
			cancel() // count reached, or failed: stop the others
		}
	}
	for running > 0 {
		e := <-ends
		running--
		if e.err != nil {
			fail(e.err)
			continue
		}
		if first != nil {
			continue
		}
		plan.finished[e.id] = true
		if !plan.knows(e.successors) {
			info, err := r.c.Stream(ctx, r.name)
			if err != nil {
				fail(fmt.Errorf("segment %d is sealed; describing %s for its successors: %w", uint64(e.id), r.name, err))
				continue
			}
			plan.learn(info)
		}
		startReady()
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

// readSegment prints a segment's events from sr.from until sr.end, or,
// if sr.end < 0, until the segment is sealed, and returns its successors
// if it is.
func (r *cliReader) readSegment(ctx context.Context, sr segmentRead) ([]stream.SegmentID, error) {
	for from := sr.from; sr.end < 0 || from < sr.end; {
		batch, err := r.c.ReadSegment(ctx, r.name, sr.id, from, stream.ReadOptions{NoWait: sr.end >= 0})
		if errors.Is(err, stream.ErrTruncated) {
			// Retention (or a truncation) took events before we read
			// them: say so and go on from what is left.
			next, succ, gone, derr := r.afterTruncation(ctx, sr.id, from)
			if derr != nil {
				return nil, derr
			}
			if gone {
				return succ, nil
			}
			from = next
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("segment %d at offset %d: %w", uint64(sr.id), from, err)
		}
		for _, e := range batch.Events {
			if sr.end >= 0 && e.Offset >= sr.end {
				return nil, nil
			}
			if err := r.print(e); err != nil {
				return nil, err
			}
		}
		if batch.Sealed {
			return batch.Successors, nil
		}
		if len(batch.Events) == 0 && sr.end >= 0 {
			return nil, nil // truncated meanwhile, or no more
		}
		from = batch.Next
	}
	return nil, nil
}

// afterTruncation finds where a segment whose events from offset from
// were truncated away goes on: its new start, or, if the segment is gone
// altogether (a sealed one, truncated to its end), its successors. The
// skipped range is reported on r.warn.
func (r *cliReader) afterTruncation(ctx context.Context, id stream.SegmentID, from int64) (next int64, successors []stream.SegmentID, gone bool, err error) {
	info, err := r.c.Stream(ctx, r.name)
	if err != nil {
		return 0, nil, false, fmt.Errorf("segment %d was truncated at offset %d; describing %s: %w", uint64(id), from, r.name, err)
	}
	for _, seg := range info.Segments {
		if seg.ID != id {
			continue
		}
		if seg.Start <= from {
			return 0, nil, false, fmt.Errorf("segment %d: reading at offset %d says truncated, but the segment starts at %d", uint64(id), from, seg.Start)
		}
		fmt.Fprintf(r.warn, "cloudskin stream read: segment %d: events at offsets %d to %d were truncated before they were read; going on from %d\n", uint64(id), from, seg.Start, seg.Start)
		return seg.Start, nil, false, nil
	}
	for _, seg := range info.Segments {
		if slices.Contains(seg.Predecessors, id) {
			successors = append(successors, seg.ID)
		}
	}
	fmt.Fprintf(r.warn, "cloudskin stream read: segment %d: its events from offset %d were truncated before they were read, and the segment is gone; going on with the segments that replaced it\n", uint64(id), from)
	return 0, successors, true, nil
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

// parseScalePolicy parses --scale-policy: fixed, events:RATE[,factor=N][,min=N]
// or bytes:RATE[,factor=N][,min=N], RATE of bytes with an optional unit.
func parseScalePolicy(v string) (stream.ScalingPolicy, error) {
	bad := func(format string, args ...any) (stream.ScalingPolicy, error) {
		return stream.ScalingPolicy{}, fmt.Errorf("--scale-policy %q: %s; want fixed, events:RATE[,factor=N][,min=N] or bytes:RATE[,factor=N][,min=N] (RATE of bytes may end in B, kB, MB, GB, KiB, MiB or GiB)", v, fmt.Sprintf(format, args...))
	}
	if v == "" || v == string(stream.ScaleFixed) {
		return stream.ScalingPolicy{}, nil
	}
	kind, rest, ok := strings.Cut(v, ":")
	if !ok {
		return bad("no rate")
	}
	fields := strings.Split(rest, ",")
	var p stream.ScalingPolicy
	var err error
	switch kind {
	case "events":
		p.Kind = stream.ScaleByEventRate
		p.TargetRate, err = strconv.ParseFloat(fields[0], 64)
	case "bytes":
		p.Kind = stream.ScaleByByteRate
		if p.TargetRate, err = parseByteRate(fields[0]); err != nil {
			return bad("rate %q: %v", fields[0], err)
		}
	default:
		return bad("kind %q", kind)
	}
	if err != nil || !(p.TargetRate > 0) || math.IsInf(p.TargetRate, 0) {
		return bad("rate %q is not a positive number", fields[0])
	}
	for _, f := range fields[1:] {
		key, val, _ := strings.Cut(f, "=")
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > stream.MaxSegments {
			return bad("%q: want %s=N with N from 1 to %d", f, key, stream.MaxSegments)
		}
		switch {
		case key == "factor" && p.ScaleFactor == 0:
			if n < 2 {
				return bad("factor %d: a split makes at least 2 parts", n)
			}
			p.ScaleFactor = n
		case key == "min" && p.MinSegments == 0:
			p.MinSegments = n
		case key == "factor" || key == "min":
			return bad("%s given twice", key)
		default:
			return bad("unknown option %q", key)
		}
	}
	return p, nil
}

// byteUnits are the units a byte rate may end in, lower case.
var byteUnits = map[string]float64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}

func parseByteRate(v string) (float64, error) {
	i := strings.IndexFunc(v, func(r rune) bool { return !strings.ContainsRune("0123456789.eE+-", r) })
	if i < 0 {
		i = len(v)
	}
	unit, ok := byteUnits[strings.ToLower(v[i:])]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q", v[i:])
	}
	n, err := strconv.ParseFloat(v[:i], 64)
	return n * unit, err
}

// formatScalePolicy writes a policy as --scale-policy takes it.
func formatScalePolicy(p stream.ScalingPolicy) string {
	if p.IsFixed() {
		return string(stream.ScaleFixed)
	}
	var b strings.Builder
	switch p.Kind {
	case stream.ScaleByEventRate:
		b.WriteString("events:" + strconv.FormatFloat(p.TargetRate, 'g', -1, 64))
	case stream.ScaleByByteRate:
		b.WriteString("bytes:" + formatByteRate(p.TargetRate))
	default:
		b.WriteString(string(p.Kind) + ":" + strconv.FormatFloat(p.TargetRate, 'g', -1, 64))
	}
	if p.ScaleFactor != 0 {
		b.WriteString(",factor=" + strconv.Itoa(p.ScaleFactor))
	}
	if p.MinSegments != 0 {
		b.WriteString(",min=" + strconv.Itoa(p.MinSegments))
	}
	return b.String()
}

// formatByteRate uses the largest unit that divides the rate exactly.
func formatByteRate(v float64) string {
	for _, u := range []struct {
		name string
		size float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}} {
		if q := v / u.size; q >= 1 && q == math.Trunc(q) && q*u.size == v {
			return strconv.FormatFloat(q, 'g', -1, 64) + u.name
		}
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// parseSegment parses a segment id as the commands take it: its number
// (as describe's ID column and positions show it) or NUMBER.#epoch.EPOCH.
func parseSegment(v string) (stream.SegmentID, error) {
	if n, err := strconv.ParseUint(v, 10, 64); err == nil {
		return stream.SegmentID(n), nil
	}
	id, err := stream.ParseSegmentID(v)
	if err != nil {
		return 0, fmt.Errorf("segment %q: want its number (the ID column of 'stream describe') or NUMBER.#epoch.EPOCH", v)
	}
	return id, nil
}

func parseSegments(flag, v string) ([]stream.SegmentID, error) {
	var ids []stream.SegmentID
	for _, f := range strings.Split(v, ",") {
		id, err := parseSegment(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("--%s %q: %w", flag, v, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// parseRanges parses --ranges: LOW-HIGH[,LOW-HIGH...], key positions in
// [0, 1].
func parseRanges(v string) ([]stream.KeyRange, error) {
	var out []stream.KeyRange
	for _, f := range strings.Split(v, ",") {
		// The dash that separates, not one of an exponent (1e-3).
		i := -1
		for j := 1; j < len(f) && i < 0; j++ {
			if f[j] == '-' && f[j-1] != 'e' && f[j-1] != 'E' {
				i = j
			}
		}
		var lo, hi float64
		var err1, err2 error
		if i > 0 {
			lo, err1 = strconv.ParseFloat(strings.TrimSpace(f[:i]), 64)
			hi, err2 = strconv.ParseFloat(strings.TrimSpace(f[i+1:]), 64)
		}
		if i <= 0 || err1 != nil || err2 != nil || !(lo >= 0 && hi <= 1 && lo < hi) {
			return nil, fmt.Errorf("--ranges %q: range %q: want LOW-HIGH with 0 <= LOW < HIGH <= 1, e.g. 0-0.5,0.5-1", v, f)
		}
		out = append(out, stream.KeyRange{Low: lo, High: hi})
	}
	return out, nil
}

func newStreamScaleCommand(g *globals) *cobra.Command {
	var split, merge, seal, ranges string
	var parts int
	cmd := &cobra.Command{
		Use:   "scale SCOPE/STREAM --split SEG [--parts N] | --merge SEG,SEG | --seal SEG,... --ranges LOW-HIGH,...",
		Short: "Split, merge or re-divide a stream's segments",
		Long: `Change a stream's segments in one of three ways, as the store's auto-scaler
does: --split one active segment into --parts segments of equal key ranges
(default 2); --merge adjacent active segments into one; or --seal adjacent
active segments and create one segment per range of --ranges, which must
cover the sealed segments' key range exactly, in order. Segments are
named by number (the ID column of 'stream describe') or as
NUMBER.#epoch.EPOCH; key ranges are positions in [0, 1).

The sealed segments keep their events and take no more: readers finish
them before reading the new segments, so each routing key's events stay
in order. It prints the new segments, of the stream's next epoch.`,
		Example: `  cloudskin stream scale surgery/cams --split 0
  cloudskin stream scale surgery/cams --split 0 --parts 4
  cloudskin stream scale surgery/cams --merge 4294967297,4294967298
  cloudskin stream scale surgery/cams --seal 4294967297,4294967298 --ranges 0-0.25,0.25-1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := streamapi.ParseStreamName(args[0])
			if err != nil {
				return err
			}
			forms := 0
			for _, given := range []bool{split != "", merge != "", seal != "" || ranges != ""} {
				if given {
					forms++
				}
			}
			switch {
			case forms != 1:
				return errors.New("stream scale: give exactly one of --split SEG, --merge SEG,SEG or --seal SEG,SEG with --ranges LOW-HIGH,LOW-HIGH")
			case cmd.Flags().Changed("parts") && split == "":
				return errors.New("stream scale: --parts goes with --split")
			case (seal == "") != (ranges == ""):
				return errors.New("stream scale: --seal and --ranges go together: the segments to seal and the key ranges of the segments that replace them")
			case cmd.Flags().Changed("parts") && (parts < 2 || parts > stream.MaxSegments):
				return fmt.Errorf("stream scale: --parts %d: want 2 to %d", parts, stream.MaxSegments)
			}
			do, err := scaleCall(name, split, merge, seal, ranges, parts)
			if err != nil {
				return err
			}
			c, err := g.streamConn(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			created, err := do(cmd.Context(), c)
			if err != nil {
				return fmt.Errorf("stream scale %s: %w", name, err)
			}
			printScaled(cmd.OutOrStdout(), name, created)
			return nil
		},
	}
	cmd.Flags().StringVar(&split, "split", "", "the active segment to split")
	cmd.Flags().IntVar(&parts, "parts", 2, "with --split: how many segments of equal key ranges")
	cmd.Flags().StringVar(&merge, "merge", "", "adjacent active segments to merge into one, comma-separated")
	cmd.Flags().StringVar(&seal, "seal", "", "adjacent active segments to seal, comma-separated (with --ranges)")
	cmd.Flags().StringVar(&ranges, "ranges", "", "key ranges LOW-HIGH of the new segments, comma-separated, in order (with --seal)")
	return cmd
}

// scaleCall checks the scale command's flags and returns the call they
// ask for.
func scaleCall(name stream.StreamName, split, merge, seal, ranges string, parts int) (func(context.Context, *tcp.Client) ([]stream.SegmentInfo, error), error) {
	switch {
	case split != "":
		id, err := parseSegment(split)
		if err != nil {
			return nil, fmt.Errorf("--split: %w", err)
		}
		return func(ctx context.Context, c *tcp.Client) ([]stream.SegmentInfo, error) {
			return c.SplitSegment(ctx, name, id, parts)
		}, nil
	case merge != "":
		ids, err := parseSegments("merge", merge)
		if err != nil {
			return nil, err
		}
		if len(ids) < 2 {
			return nil, fmt.Errorf("--merge %q: name at least 2 adjacent segments", merge)
		}
		return func(ctx context.Context, c *tcp.Client) ([]stream.SegmentInfo, error) {
			return c.MergeSegments(ctx, name, ids)
		}, nil
	}
	ids, err := parseSegments("seal", seal)
	if err != nil {
		return nil, err
	}
	krs, err := parseRanges(ranges)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, c *tcp.Client) ([]stream.SegmentInfo, error) {
		return c.Scale(ctx, name, ids, krs)
	}, nil
}

func printScaled(w io.Writer, name stream.StreamName, created []stream.SegmentInfo) {
	epoch := uint32(0)
	if len(created) > 0 {
		epoch = created[0].Epoch
	}
	fmt.Fprintf(w, "scaled %s to epoch %d: %d new segment(s)\n", name, epoch, len(created))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEGMENT\tID\tEPOCH\tKEYS\tPREDECESSORS")
	for _, s := range created {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", s.ID, uint64(s.ID), s.Epoch, formatRange(s.Range), formatIDs(s.Predecessors))
	}
	tw.Flush()
}

func newStreamInstancesCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "instances [N]",
		Short: "List the stream store's segment-store instances, or set how many run",
		Long: `Without N, list the segment-store instances of the stream store at --server,
one per line. With N, make N instances run: the store moves containers
(groups of segments) between instances, each unavailable for a moment, and
this prints every move (container, from, to, and how long it took), then
the instances. A store that runs a single segment store (no cluster)
refuses both.`,
		Example: "  cloudskin stream instances\n  cloudskin stream instances 3",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n := 0
			if len(args) == 1 {
				v, err := strconv.Atoi(args[0])
				if err != nil || v < 1 {
					return fmt.Errorf("stream instances %q: want a whole number of instances, 1 or more", args[0])
				}
				n = v
			}
			c, err := g.streamConn(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			out := cmd.OutOrStdout()
			if n > 0 {
				moves, err := c.SetInstances(cmd.Context(), n)
				if err != nil {
					return fmt.Errorf("stream instances %d: %w", n, err)
				}
				printMoves(out, moves)
			}
			names, err := c.Instances(cmd.Context())
			if err != nil {
				return fmt.Errorf("stream instances: %w", err)
			}
			for _, name := range names {
				fmt.Fprintln(out, name)
			}
			return nil
		},
	}
}

func printMoves(w io.Writer, moves []stream.ContainerMove) {
	if len(moves) == 0 {
		fmt.Fprintln(w, "no container moved")
		return
	}
	for _, m := range moves {
		fmt.Fprintf(w, "moved container %d from %s to %s in %s (%d log records replayed)\n", m.Container, m.From, m.To, m.Took.Round(time.Microsecond), m.Replayed)
	}
}
