package wasi

import (
	"context"
	"encoding/binary"
	"io"
	"math"
	"runtime"
	"time"
)

// monotonicNow is the cell's monotonic clock: Config.Monotonic plus the
// offset, never less than a value it returned before. The high-water mark
// makes that hold even if Config.Monotonic steps back (a test clock, or a
// resumed cell whose offset was recorded a little late).
func (s *System) monotonicNow() time.Duration {
	d := s.monotonic() + s.monoOffset
	s.mu.Lock()
	defer s.mu.Unlock()
	if d < s.lastMono {
		d = s.lastMono
	}
	s.lastMono = d
	return d
}

// clockNow reads clock id in nanoseconds. The CPU-time clocks have no
// meaning for a cell that shares the host's threads; they count like the
// monotonic clock, which is what a C program timing itself with clock()
// wants.
func (s *System) clockNow(id uint32) (uint64, errno) {
	switch id {
	case clockRealtime:
		ns := s.now().UnixNano()
		if ns < 0 {
			ns = 0
		}
		return uint64(ns), errnoSuccess
	case clockMonotonic, clockProcessCputimeID, clockThreadCputimeID:
		return uint64(s.monotonicNow()), errnoSuccess
	}
	return 0, errnoInval
}

// clockResGet is clock_res_get(id, resolution_ptr). Go's clocks are read in
// nanoseconds.
func (s *System) clockResGet(_ context.Context, mem memory, p []uint64) errno {
	id, resPtr := uint32(p[0]), uint32(p[1])
	if id > clockThreadCputimeID {
		return errnoInval
	}
	if !mem.putU64(resPtr, 1) {
		return errnoFault
	}
	return errnoSuccess
}

// clockTimeGet is clock_time_get(id, precision, time_ptr). The precision
// hint is ignored: we always answer as precisely as we can.
func (s *System) clockTimeGet(_ context.Context, mem memory, p []uint64) errno {
	id, timePtr := uint32(p[0]), uint32(p[2])
	if !mem.has(timePtr, 8) {
		return errnoFault
	}
	t, en := s.clockNow(id)
	if en != errnoSuccess {
		return en
	}
	mem.putU64(timePtr, t)
	return errnoSuccess
}

// subscription is one decoded poll_oneoff subscription.
type subscription struct {
	userdata uint64
	tag      uint8
	// clock
	clockID  uint32
	timeout  uint64
	absolute bool
	// fd_read, fd_write
	fd uint32
}

func decodeSubscription(b []byte) subscription {
	return subscription{
		userdata: binary.LittleEndian.Uint64(b[0:]),
		tag:      b[8],
		clockID:  binary.LittleEndian.Uint32(b[16:]),
		timeout:  binary.LittleEndian.Uint64(b[24:]),
		absolute: binary.LittleEndian.Uint16(b[40:])&subclockAbstime != 0,
		fd:       binary.LittleEndian.Uint32(b[16:]),
	}
}

// event is one poll_oneoff result.
type event struct {
	userdata uint64
	err      errno
	tag      uint8
	nbytes   uint64
}

func (ev event) encode(b []byte) {
	clear(b[:eventSize])
	binary.LittleEndian.PutUint64(b[0:], ev.userdata)
	binary.LittleEndian.PutUint16(b[8:], uint16(ev.err))
	b[10] = ev.tag
	binary.LittleEndian.PutUint64(b[16:], ev.nbytes)
}

// pollOneoff is poll_oneoff(in, out, nsubscriptions, nevents_ptr).
//
// fd subscriptions are always ready: stdio is an io.Reader/io.Writer we
// cannot ask, and regular files never block. Clock subscriptions sleep
// until the earliest deadline, unless an fd is ready, and give up with
// EINTR when ctx ends (the engine then stops the guest).
func (s *System) pollOneoff(ctx context.Context, mem memory, p []uint64) errno {
	in, out, n, neventsPtr := uint32(p[0]), uint32(p[1]), uint32(p[2]), uint32(p[3])
	if n == 0 {
		return errnoInval
	}
	if !mem.hasArray(in, n, subscriptionSize) || !mem.hasArray(out, n, eventSize) || !mem.has(neventsPtr, 4) {
		return errnoFault
	}
	subs := make([]subscription, n)
	for i := range subs {
		subs[i] = decodeSubscription(mem[in+uint32(i)*subscriptionSize:])
	}

	var ready []event
	type timer struct {
		sub   subscription
		delay time.Duration
	}
	var timers []timer
	for _, sub := range subs {
		switch sub.tag {
		case eventtypeClock:
			delay, en := s.clockDelay(sub)
			if en != errnoSuccess {
				ready = append(ready, event{userdata: sub.userdata, err: en, tag: sub.tag})
				continue
			}
			timers = append(timers, timer{sub, delay})
		case eventtypeFdRead, eventtypeFdWrite:
			ready = append(ready, s.fdEvent(sub))
		default:
			ready = append(ready, event{userdata: sub.userdata, err: errnoInval, tag: sub.tag})
		}
	}

	// With something ready there is no waiting: only clocks already due
	// fire with it. Otherwise sleep until the earliest clock, and fire
	// every clock due by then.
	var due time.Duration
	if len(ready) == 0 {
		due = timers[0].delay
		for _, t := range timers[1:] {
			due = min(due, t.delay)
		}
		if en := sleep(ctx, due); en != errnoSuccess {
			return en
		}
	}
	for _, t := range timers {
		if t.delay <= due {
			ready = append(ready, event{userdata: t.sub.userdata, tag: eventtypeClock})
		}
	}

	for i, ev := range ready {
		ev.encode(mem[out+uint32(i)*eventSize:])
	}
	mem.putU32(neventsPtr, uint32(len(ready)))
	return errnoSuccess
}

// clockDelay is how long a clock subscription waits from now.
func (s *System) clockDelay(sub subscription) (time.Duration, errno) {
	timeout := sub.timeout
	if sub.absolute {
		now, en := s.clockNow(sub.clockID)
		if en != errnoSuccess {
			return 0, en
		}
		if timeout <= now {
			return 0, errnoSuccess
		}
		timeout -= now
	} else if sub.clockID > clockThreadCputimeID {
		return 0, errnoInval
	}
	if timeout > math.MaxInt64 {
		return time.Duration(math.MaxInt64), errnoSuccess
	}
	return time.Duration(timeout), errnoSuccess
}

// fdEvent answers an fd_read or fd_write subscription at once. nbytes is
// the bytes left to read for a file and 0 where we cannot know.
func (s *System) fdEvent(sub subscription) event {
	ev := event{userdata: sub.userdata, tag: sub.tag}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, en := s.lookup(sub.fd)
	if en != errnoSuccess {
		ev.err = en
		return ev
	}
	if e.kind == KindDir {
		ev.err = errnoBadf
		return ev
	}
	if sub.tag == eventtypeFdRead && e.kind == KindFile {
		if st, err := e.file.Stat(); err == nil && st.Size() > e.offset {
			ev.nbytes = uint64(st.Size() - e.offset)
		}
	}
	return ev
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) errno {
	if d <= 0 {
		return errnoSuccess
	}
	if ctx.Err() != nil {
		return errnoIntr
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return errnoIntr
	case <-t.C:
		return errnoSuccess
	}
}

// randomGet is random_get(buf, buf_len).
func (s *System) randomGet(_ context.Context, mem memory, p []uint64) errno {
	buf, ok := mem.slice(uint32(p[0]), uint32(p[1]))
	if !ok {
		return errnoFault
	}
	if _, err := io.ReadFull(s.random, buf); err != nil {
		return errnoIo
	}
	return errnoSuccess
}

// schedYield is sched_yield(): let other goroutines (other cells) run.
func schedYield(context.Context, memory, []uint64) errno {
	runtime.Gosched()
	return errnoSuccess
}
