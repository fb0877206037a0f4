"""Story generations as server-side jobs. A chat completion that names its story runs as a job
(job.py) in a thread of the worker that received it; its upstream reader (upstream.py) takes the
backend's chunks into the job's memory (received.py). The process's one writer (writer.py) persists
the text, with a heartbeat, of all its running jobs every FLUSH_SECONDS in one transaction.
Followers (followers.py) send a generation's events from a cursor: from the job's memory once it is
persisted when the job runs in their process, else from the database. The registry (registry.py)
knows this process's live jobs and tells, for any generation marked running, whether its job is
still alive; a generation ends one way (ending.py), whoever ends it, and Stop (stop.py) asks its
job to end wherever it runs. store.py holds the SQL of the generations table, rows.py the view of a
row; shutdown.py and streams.py are what a stopping worker does. Jobs, writer and followers borrow
a connection for each query and hold none while they wait."""
