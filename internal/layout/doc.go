// Package sscagent is the root of the social security card one-card-pass terminal agent
// module. It holds no code of its own, only checks that apply to the whole tree (every
// package documented). The binaries are cmd/sscagent and cmd/sscsim; DESIGN-level notes
// are in README.md and docs/.
package sscagent
