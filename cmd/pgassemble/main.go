// Command pgassemble builds PostgreSQL container images without Docker.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}
