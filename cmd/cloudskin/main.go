// Command cloudskin is the one binary of the CloudSkin platform. This
// package only parses flags and wires packages together; the work is done in
// the packages it calls.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore default handling so a second Ctrl-C
	// kills the process at once.
	go func() { <-ctx.Done(); stop() }()
	err := newRootCommand().ExecuteContext(ctx)
	var exit *exitCodeError
	switch {
	case errors.As(err, &exit):
		os.Exit(exit.code) // a cell's own exit status, already explained by the program
	case err != nil && ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(130) // stopped by a signal, as shells report it
	case err != nil:
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
