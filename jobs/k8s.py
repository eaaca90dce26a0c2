"""Where steps run: the one module with per-step Kubernetes settings and the executor choice.

Locally (`MM_EXECUTOR=in_process`, the default for `mm run`, or `multiprocess` under
`dagster dev`) these tags are inert. In production (`MM_EXECUTOR=k8s`) the `k8s_job_executor`
launches one pod per step and honours the `dagster-k8s/config` tag of each step: GPU steps
(embedding, transcription, evaluation of image/speech/video, quantization on CUDA) request
`nvidia.com/gpu` on GPU nodes; every other step requests CPU only.
"""

import os

import dagster as dg

GPU_NODE_SELECTOR = {"mm.platform/accelerator": "nvidia-gpu"}
GPU_TOLERATIONS = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]

CPU_STEP = {
    "container_config": {"resources": {"requests": {"cpu": "500m", "memory": "2Gi"},
                                       "limits": {"cpu": "2", "memory": "6Gi"}}},
}
GPU_STEP = {
    "container_config": {"resources": {"requests": {"cpu": "2", "memory": "12Gi", "nvidia.com/gpu": "1"},
                                       "limits": {"cpu": "4", "memory": "24Gi", "nvidia.com/gpu": "1"}}},
    "pod_spec_config": {"node_selector": GPU_NODE_SELECTOR, "tolerations": GPU_TOLERATIONS},
}

#: concurrency pools (the instance caps them): GPU steps share the cards, index steps the CPU nodes
GPU_POOL = "gpu"
CPU_POOL = "cpu_index"


def step_op_tags(gpu: bool) -> dict:
    """op_tags for one step; only the k8s_job_executor reads them. GPU steps run the CUDA image
    when `MM_GPU_IMAGE` names it (deploy/Dockerfile.cuda)."""
    config = GPU_STEP if gpu else CPU_STEP
    if gpu and os.environ.get("MM_GPU_IMAGE"):
        config = {**config, "container_config": {**config["container_config"], "image": os.environ["MM_GPU_IMAGE"]}}
    return {"dagster-k8s/config": config}


def step_pool(gpu: bool) -> str:
    return GPU_POOL if gpu else CPU_POOL


def executor() -> dg.ExecutorDefinition:
    """The executor for this environment (`MM_EXECUTOR`: in_process | multiprocess | k8s)."""
    choice = os.environ.get("MM_EXECUTOR", "multiprocess")
    if choice == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor.configured({"max_concurrent": int(os.environ.get("MM_K8S_MAX_CONCURRENT", "8"))})
    if choice == "in_process":
        return dg.in_process_executor
    if choice == "multiprocess":
        return dg.multiprocess_executor.configured({"max_concurrent": int(os.environ.get("MM_MAX_CONCURRENT", "2"))})
    raise ValueError(f"MM_EXECUTOR={choice!r}: expected in_process, multiprocess or k8s")
