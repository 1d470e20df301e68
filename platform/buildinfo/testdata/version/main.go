// Command version prints buildinfo.Version: the test links it with and
// without a stamp.
package main

import (
	"fmt"

	"github.com/fabrika/fabrika/platform/buildinfo"
)

func main() { fmt.Println(buildinfo.Version()) }
