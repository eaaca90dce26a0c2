"""Where steps run: the one module with per-step Kubernetes settings and the executor choice.

Locally (the in-process executor, `resources.environment`) these tags are inert. In production
(`MM_ENV=production`: `MM_EXECUTOR=k8s`) the `k8s_job_executor`
launches one pod per step and honours the `dagster-k8s/config` tag of each step: GPU steps
(embedding, transcription, evaluation of image/speech/video, quantization on CUDA) request
`nvidia.com/gpu` on GPU nodes; every other step requests CPU only.
"""

import os

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
