package worker

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/hibiken/asynq"
)

type warmKey struct{}

func TestWarmPoolCarriesContextErrorAndPanic(t *testing.T) {
	p := newWarmPool(2, slog.New(slog.DiscardHandler))
	defer p.close()
	boom := errors.New("boom")
	h := p.handler(asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		switch task.Type() {
		case "panic":
			panic("the handler's own panic")
		case "err":
			return boom
		}
		if ctx.Value(warmKey{}) != "v" {
			return errors.New("context value lost")
		}
		return nil
	}))
	ctx := context.WithValue(context.Background(), warmKey{}, "v")
	for range 3 { // jobs come back to the sync.Pool: run each more than once
		if err := h.ProcessTask(ctx, asynq.NewTask("ok", nil)); err != nil {
			t.Fatalf("ok task: %v", err)
		}
		if err := h.ProcessTask(ctx, asynq.NewTask("err", nil)); !errors.Is(err, boom) {
			t.Fatalf("err task: got %v, want boom", err)
		}
		func() {
			defer func() {
				if x := recover(); x != "the handler's own panic" {
					t.Fatalf("recovered %v, want the handler's panic raised again in the caller", x)
				}
			}()
			_ = h.ProcessTask(ctx, asynq.NewTask("panic", nil))
			t.Fatal("the panic did not reach the caller")
		}()
	}
}

func TestWarmPoolRunsInPlaceWhenEveryGoroutineIsBusy(t *testing.T) {
	p := newWarmPool(1, slog.New(slog.DiscardHandler))
	defer p.close()
	started, release := make(chan struct{}), make(chan struct{})
	h := p.handler(asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		if task.Type() == "block" {
			close(started)
			<-release
		}
		return nil
	}))
	done := make(chan error)
	go func() { done <- h.ProcessTask(context.Background(), asynq.NewTask("block", nil)) }()
	<-started
	// The only pool goroutine is busy: this one must not wait for it.
	if err := h.ProcessTask(context.Background(), asynq.NewTask("quick", nil)); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	p.close()
	// A closed pool still runs tasks (in place), so a task asynq hands
	// over while shutting down is not lost.
	if err := h.ProcessTask(context.Background(), asynq.NewTask("quick", nil)); err != nil {
		t.Fatal(err)
	}
}
