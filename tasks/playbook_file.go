package tasks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"

	"gopkg.in/yaml.v3"
)

// ParsePlaybooks reads an OKTAQ_PLAYBOOKS_FILE: YAML, or JSON (which YAML
// reads as it is), of the form {"playbooks": [{name, description, steps:
// [{action, options, groups, apps, on_failure}]}]}. Unknown keys are
// errors. It returns the built-in playbooks with the file's added; a file
// may not redefine a built-in. Errors name the file, the playbook, the step
// and the field.
func ParsePlaybooks(file string, data []byte) (map[string]*Playbook, error) {
	out := BuiltinPlaybooks()
	var doc struct {
		Playbooks []Playbook `yaml:"playbooks"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("playbooks file %s: %w", file, err)
	}
	builtin := maps.Clone(out)
	for i := range doc.Playbooks {
		p := &doc.Playbooks[i]
		name := p.Name
		if name == "" {
			name = fmt.Sprintf("#%d", i+1)
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("playbooks file %s: playbook %s: %w", file, name, err)
		}
		if _, ok := builtin[p.Name]; ok {
			return nil, fmt.Errorf("playbooks file %s: playbook %s: name is a built-in playbook; choose another name", file, name)
		}
		if _, dup := out[p.Name]; dup {
			return nil, fmt.Errorf("playbooks file %s: playbook %s is defined twice", file, name)
		}
		out[p.Name] = p
	}
	return out, nil
}
