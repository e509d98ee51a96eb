"""Reading and writing media: fetching a job's reference inputs (``fetch``) and writing model
outputs as image, video and audio files (``encode``)."""
