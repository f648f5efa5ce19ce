// Package config is the service configuration of `portcullis serve`:
// listeners, logging, tracing, rule repositories and handler settings, in
// Oathkeeper's shape, read with koanf from a YAML or JSON file plus
// PORTCULLIS_ environment overrides and decoded strictly (every unknown
// key and bad value is one line naming file, line and key).
//
// Rules themselves are rulestore's: this package only lists where they
// come from (access_rules.repositories) and how they match.
package config
