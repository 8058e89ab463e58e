module github.com/tally-dev/tally/event

go 1.26.0

require (
	go.yaml.in/yaml/v3 v3.0.6
	pgregory.net/rapid v1.3.0
)
