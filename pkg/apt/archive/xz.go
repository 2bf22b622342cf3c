package archive

// WithXZCommand decompresses Packages.xz indexes with an external xz
// binary (e.g. "/usr/bin/xz") instead of the pure-Go decoder, which is
// about six times slower: 2 s of CPU per architecture for trixie main, the
// largest cost of planning a cold build. The result is checked as before
// (xz's own check, then the signed size and SHA256 of the uncompressed
// index where the Release gives them).
func WithXZCommand(path string) Option { return func(c *Client) { c.xzCommand = path } }
