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
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudskin/cloudskin/client"
	"github.com/cloudskin/cloudskin/continuum"
	"github.com/cloudskin/cloudskin/stream"
	"github.com/cloudskin/cloudskin/stream/streamapi"
)

func newStreamCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stream",
		Short: "Create, write, read and tail streams in the stream store",
		Long: `The stream store keeps ordered, durable streams of events (Pravega's model):
a stream's routing keys are spread over segments, events with one key keep
their order, and an append is acknowledged only once it is on disk. Old data
moves to long-term storage on its own. 'cloudskin up' runs the store; these
commands use its API on the control plane's address (--server).`,
	}
	cmd.AddCommand(
		newStreamCreateCommand(g), newStreamListCommand(g), newStreamDescribeCommand(g),
		newStreamWriteCommand(g), newStreamReadCommand(g, false), newStreamReadCommand(g, true),
		newStreamDeleteCommand(g),
	)
	return cmd
}

// streamClient resolves the server as every client command does.
func (g *globals) streamClient() (*streamapi.Client, error) {
	target, err := client.Resolve(g.server, os.Getenv, filepath.Join(g.dataDir, continuum.ClientConfigFile))
	if err != nil {
		return nil, err
	}
	c, err := streamapi.NewClient(target.Server, target.Token)
	if err != nil {
		return nil, fmt.Errorf("%w (from %s)", err, target.Source)
	}
	return c, nil
}

func newStreamCreateCommand(g *globals) *cobra.Command {
	var spec streamapi.StreamSpec
	var maxAge time.Duration
	cmd := &cobra.Command{
		Use:   "create SCOPE/STREAM",
		Short: "Create a stream (and its scope, if new)",
		Example: `  cloudskin stream create surgery/cams --segments 4
  cloudskin stream create surgery/cams --max-age 24h --max-bytes 10000000000`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := streamapi.ParseStreamName(args[0])
			if err != nil {
				return err
			}
			if maxAge > 0 {
				spec.Retention.MaxAge = maxAge.String()
			}
			c, err := g.streamClient()
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.CreateScope(cmd.Context(), name.Scope); err != nil && !streamapi.IsConflict(err) {
				return err
			}
			st, err := c.CreateStream(cmd.Context(), name, spec)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created stream %s/%s with %d segments\n", st.Scope, st.Name, len(st.Segments))
			return nil
		},
	}
	cmd.Flags().IntVar(&spec.Segments, "segments", 1, "number of segments the routing keys are spread over")
	cmd.Flags().DurationVar(&maxAge, "max-age", 0, "retention: discard events older than this (0 keeps them)")
	cmd.Flags().Int64Var(&spec.Retention.MaxBytes, "max-bytes", 0, "retention: discard the oldest events beyond this many bytes (0: no limit)")
	return cmd
}

func newStreamListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "ls [SCOPE]",
		Short:   "List streams, of every scope or of one",
		Example: "  cloudskin stream ls\n  cloudskin stream ls surgery",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.streamClient()
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
			c, name, err := g.streamArgs(args)
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

func printStream(w io.Writer, st streamapi.Stream) {
	fmt.Fprintf(w, "Stream:     %s/%s\nCreated:    %s\n", st.Scope, st.Name, st.Created.Format(time.RFC3339))
	ret := "keep everything"
	if r := st.Spec.Retention; r.MaxAge != "" || r.MaxBytes > 0 {
		ret = fmt.Sprintf("max age %s, max bytes %d", orNone(r.MaxAge), r.MaxBytes)
	}
	fmt.Fprintf(w, "Retention:  %s\n", ret)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEGMENT\tID\tKEYS\tSTART\tEND\tBYTES")
	for _, s := range st.Segments {
		fmt.Fprintf(tw, "%s\t%d\t[%.4g, %.4g)\t%d\t%d\t%d\n", s.Name, s.ID, s.Low, s.High, s.Start, s.End, s.End-s.Start)
	}
	tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func newStreamDeleteCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "delete SCOPE/STREAM",
		Short:   "Delete a stream and all its data",
		Example: "  cloudskin stream delete surgery/cams",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, name, err := g.streamArgs(args)
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

func (g *globals) streamArgs(args []string) (*streamapi.Client, stream.StreamName, error) {
	name, err := streamapi.ParseStreamName(args[0])
	if err != nil {
		return nil, name, err
	}
	c, err := g.streamClient()
	return c, name, err
}

// Appends from `stream write` carry at most this many lines or bytes.
const (
	writeBatchLines = 256
	writeBatchBytes = 1 << 20
)

func newStreamWriteCommand(g *globals) *cobra.Command {
	var key string
	var whole bool
	cmd := &cobra.Command{
		Use:   "write SCOPE/STREAM [--key K] [--whole]",
		Short: "Append events read from stdin, one per line (or all of stdin as one)",
		Long: `Append the lines of stdin as events (without their newlines), or with --whole
all of stdin as one event (a file). For each acknowledged event it prints
the input line number, a tab and the event's position SEGMENT:OFFSET, so a
script knows exactly what is stored. Lines that arrive together are sent in
one atomic append. The appends are idempotent (a writer id and sequence
numbers), so when the store pushes back because its local disk budget is
full, they are retried until it takes them.`,
		Example: `  seq 1 1000 | cloudskin stream write surgery/cams --key camera-1
  cloudskin stream write surgery/frames --whole < frame-0001.jpg`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, name, err := g.streamArgs(args)
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
				return w.send(cmd.Context(), [][]byte{data})
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
// sequence numbers and prints what was acknowledged.
type cliWriter struct {
	c    *streamapi.Client
	name stream.StreamName
	key  string
	id   string
	seq  int64
	line int
	out  io.Writer
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
	}
	if err := <-readErr; err != nil {
		return fmt.Errorf("read stdin after line %d: %w", w.line, err)
	}
	return nil
}

// send appends one batch, retrying while the store pushes back, and
// prints each event's line and position.
func (w *cliWriter) send(ctx context.Context, events [][]byte) error {
	w.seq++
	req := streamapi.AppendRequest{RoutingKey: w.key, Events: events, WriterID: w.id, Seq: w.seq}
	res, err := w.c.Append(ctx, w.name, req)
	for delay := 100 * time.Millisecond; streamapi.IsBackPressure(err); delay = min(2*delay, 5*time.Second) {
		fmt.Fprintf(os.Stderr, "the store pushes back (%v); retrying in %s\n", err, delay)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		res, err = w.c.Append(ctx, w.name, req)
	}
	if err != nil {
		return fmt.Errorf("append lines %d to %d: %w", w.line+1, w.line+len(events), err)
	}
	off := res.Offset
	for _, e := range events {
		w.line++
		fmt.Fprintf(w.out, "%d\t%d:%d\n", w.line, res.Segment, off)
		off += 4 + int64(len(e))
	}
	return nil
}

func newStreamReadCommand(g *globals, tail bool) *cobra.Command {
	var from string
	var count int
	var follow, positions bool
	cmd := &cobra.Command{
		Use:   "read SCOPE/STREAM [--from start|tail] [--count N] [--follow]",
		Short: "Print a stream's events, one per line",
		Long: `Print the events of every segment of a stream, one per line, from the start
(or --from tail: only new ones). Without --follow it stops at the end of the
data there is now; with --follow it waits for new events until interrupted
or --count events were printed. Events of one routing key come in order;
segments are read one after the other (or side by side with --follow).`,
		Example: `  cloudskin stream read surgery/cams
  cloudskin stream read surgery/cams --count 10 --positions`,
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
		if from != "start" && from != "tail" {
			return fmt.Errorf("--from %q: want start or tail", from)
		}
		c, name, err := g.streamArgs(args)
		if err != nil {
			return err
		}
		defer c.Close()
		st, err := c.Stream(cmd.Context(), name)
		if err != nil {
			return err
		}
		r := &cliReader{c: c, name: name, out: cmd.OutOrStdout(), positions: positions, limit: count}
		return r.run(cmd.Context(), st, from == "tail", follow)
	}
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many events (0: no limit)")
	cmd.Flags().BoolVar(&positions, "positions", false, "print SEGMENT:OFFSET and a tab before each event")
	if !tail {
		cmd.Flags().StringVar(&from, "from", "start", "where to start: start or tail")
		cmd.Flags().BoolVar(&follow, "follow", false, "keep waiting for new events")
	}
	return cmd
}

// cliReader prints the events of a stream's segments.
type cliReader struct {
	c         *streamapi.Client
	name      stream.StreamName
	out       io.Writer
	positions bool
	limit     int

	mu      sync.Mutex
	printed int
}

// followWait is how long one read waits at the tail before asking again.
const followWait = 30 * time.Second

func (r *cliReader) run(ctx context.Context, st streamapi.Stream, fromTail, follow bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if !follow {
		for _, seg := range st.Segments {
			if err := r.readSegment(ctx, seg, seg.Start, seg.End); err != nil {
				return r.done(ctx, err)
			}
		}
		return nil
	}
	errs := make(chan error, len(st.Segments))
	for _, seg := range st.Segments {
		from := seg.Start
		if fromTail {
			from = seg.End
		}
		go func() { errs <- r.readSegment(ctx, seg, from, -1) }()
	}
	var first error
	for range st.Segments {
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

// readSegment prints a segment's events from offset from until end (or
// for ever, if end < 0).
func (r *cliReader) readSegment(ctx context.Context, seg streamapi.Segment, from, end int64) error {
	wait := time.Duration(0)
	if end < 0 {
		wait = followWait
	}
	for end < 0 || from < end {
		batch, err := r.c.ReadSegment(ctx, r.name, seg.ID, from, 0, wait)
		if err != nil {
			return err
		}
		for _, e := range batch.Events {
			if end >= 0 && e.Offset >= end {
				return nil
			}
			if err := r.print(e); err != nil {
				return err
			}
		}
		if len(batch.Events) == 0 && end >= 0 {
			return nil // truncated meanwhile, or no more
		}
		from = batch.Next
	}
	return nil
}

func (r *cliReader) print(e streamapi.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.limit > 0 && r.printed >= r.limit {
		return errEnough
	}
	var b strings.Builder
	if r.positions {
		b.WriteString(strconv.FormatUint(e.Segment, 10) + ":" + strconv.FormatInt(e.Offset, 10) + "\t")
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
