// compose-check loads Compose files with compose-go, the Compose specification's reference
// loader (the one `docker compose` uses): schema validation, interpolation, normalisation and
// consistency checks (unknown services in depends_on, undefined volumes and networks, …). It
// prints the loaded project as JSON, so a test can check what it defines, or exits 1 with the
// loader's error.
//
//	compose-check compose.yaml [more.yaml ...]
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: compose-check compose.yaml [more.yaml ...]")
		os.Exit(2)
	}
	opts, err := cli.NewProjectOptions(
		os.Args[1:],
		cli.WithOsEnv,
		cli.WithConsistency(true),
		cli.WithName("compose-check"),
	)
	if err == nil {
		var project any
		project, err = opts.LoadProject(context.Background())
		if err == nil {
			out, _ := json.MarshalIndent(project, "", "  ")
			fmt.Println(string(out))
			return
		}
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
