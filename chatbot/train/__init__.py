"""Training the listener's own models on this machine: the listening adapter and its data.

`python -m chatbot.train CONFIG.yaml` fine-tunes a LoRA adapter on the embedded model;
`python -m chatbot.train.check_data FILE.jsonl` judges corpus rows with the pipeline's own checks.
Heavy imports (torch, peft) happen inside the functions that need them.
"""
