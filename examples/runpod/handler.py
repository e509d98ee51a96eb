"""A streaming RunPod serverless handler: it yields the words of its prompt one at a time.

Written as RunPod's documentation shows, it runs on RunPod as it is; genq serves the same
file with

    [models.words]
    runtime = "runpod"
    handler = "examples/runpod/handler.py"
"""

import time

import runpod


def handler(job):
    """Yield each word of the prompt with its place, reporting progress as it goes."""
    job_input = job["input"]
    words = str(job_input.get("prompt", "")).split()
    delay = float(job_input.get("delay_ms", 0)) / 1000
    for index, word in enumerate(words):
        time.sleep(delay)
        runpod.serverless.progress_update(job, 100 * (index + 1) // len(words))
        yield {"index": index, "word": word}


runpod.serverless.start({"handler": handler, "return_aggregate_stream": True})
