package worker

import (
	"github.com/hibiken/asynq"
	"github.com/hibiken/asynq/x/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// QueueCollector exports asynq's queue metrics (asynq_tasks_enqueued_total,
// asynq_queue_size, asynq_queue_latency_seconds, ...) from Redis, with
// asynq's own collector.
func QueueCollector(r asynq.RedisConnOpt) prometheus.Collector {
	return metrics.NewQueueMetricsCollector(asynq.NewInspector(r))
}
