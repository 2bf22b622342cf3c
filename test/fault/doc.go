// Package fault is pgassemble's fault suite: the real binary, built from
// the tree, runs against the fixture world (signed apt repositories and a
// registry on 127.0.0.1) behind proxies that inject registry 429/503 with
// Retry-After, connection resets in the middle of blob uploads, slow
// links, permanent refusals, and mirror faults; a build is interrupted
// with SIGINT and run again; two bakes share one cache at once.
//
// Every case asserts the outcome (transient: the build succeeds;
// permanent: a clear error naming what and where) and the invariants:
// no tag points at an incomplete index, nothing corrupt or temporary
// stays in the cache.
package fault
