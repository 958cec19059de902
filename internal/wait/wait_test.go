package wait_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadline/leadline/internal/wait"
)

func TestFor(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 3 {
			n.Add(1)
		}
	}()
	wait.For(t, 10*time.Second, "three", func() bool { return n.Load() == 3 })
}

func TestUntilGivesUp(t *testing.T) {
	if wait.Until(time.Millisecond, func() bool { return false }) {
		t.Error("Until reported a condition that never held")
	}
	if !wait.Until(0, func() bool { return true }) {
		t.Error("Until missed a condition that held at once")
	}
}

func TestClosed(t *testing.T) {
	ch := make(chan struct{})
	go close(ch)
	wait.Closed(t, ch, 10*time.Second, "the close")
	values := make(chan int, 1)
	values <- 1
	wait.Closed(t, values, 10*time.Second, "a value")
}
