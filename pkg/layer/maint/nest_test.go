package maint

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Unbounded recursion fails with a clear error instead of exhausting the
// Go stack (which no recover catches).
func TestRunawayRecursion(t *testing.T) {
	v := NewMemFS(MemDir("/tmp"), MemDir("/root"))
	sh := kitShell(t, v)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := sh.Run(ctx, Script{Package: "p", Name: "postinst", Body: []byte("f() { f; }; f\n"), Args: []string{"configure", ""}})
	if err == nil || !strings.Contains(err.Error(), "nested too deep") {
		t.Fatalf("err = %v, want the nesting bound", err)
	}
}
