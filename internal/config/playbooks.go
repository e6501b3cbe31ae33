package config

import (
	"fmt"
	"os"

	"github.com/oktaq/oktaq/tasks"
)

// LoadPlaybooks reads OKTAQ_PLAYBOOKS_FILE: the built-in playbooks, with
// the file's added when path is set. Every step is checked as a
// producer's request would be, so a wrong file stops the process at start
// with an error naming the file, the playbook, the step and the field
// ("playbooks file /etc/oktaq/pb.yaml: playbook leaver:
// steps[1].on_failure: must be stop or continue, not \"maybe\"").
func LoadPlaybooks(path string) (map[string]*tasks.Playbook, error) {
	if path == "" {
		return tasks.BuiltinPlaybooks(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the playbooks file: %w", unwrapPath(err))
	}
	return tasks.ParsePlaybooks(path, b)
}
