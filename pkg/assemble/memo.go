package assemble

import (
	"context"
	"sync"
)

// memo computes a value once per key for concurrent callers. Unlike
// sync.Once it forgets failures, so an error (a cancelled context of one
// target, a network blip) is not served to every later caller.
type memo[T any] struct {
	mu sync.Mutex
	m  map[string]*memoEntry[T]
}

type memoEntry[T any] struct {
	done chan struct{}
	v    T
	err  error
}

func (m *memo[T]) get(ctx context.Context, key string, fn func() (T, error)) (T, error) {
	m.mu.Lock()
	if m.m == nil {
		m.m = map[string]*memoEntry[T]{}
	}
	if e, ok := m.m[key]; ok {
		m.mu.Unlock()
		select {
		case <-e.done:
			if e.err != nil {
				return m.get(ctx, key, fn) // the failed entry is gone: try ourselves
			}
			return e.v, nil
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
	e := &memoEntry[T]{done: make(chan struct{})}
	m.m[key] = e
	m.mu.Unlock()
	e.v, e.err = fn()
	if e.err != nil {
		m.mu.Lock()
		delete(m.m, key)
		m.mu.Unlock()
	}
	close(e.done)
	return e.v, e.err
}

// forget drops every computed value; callers waiting on one still get it.
func (m *memo[T]) forget() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, e := range m.m {
		select {
		case <-e.done:
			delete(m.m, k)
		default: // being computed: its callers need it
		}
	}
}
