package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

// version is set by the linker (-X main.version=...) in release builds.
var version = "dev"

func init() {
	register("version", "print the version", func(_ context.Context, env *cmdEnv, args []string) error {
		fs := newFlags(env, "version", "")
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return usagef("takes no arguments")
		}
		v := version
		if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		fmt.Fprintf(env.stdout, "oktaq %s\n", v)
		return nil
	})
}
