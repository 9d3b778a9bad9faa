#!/usr/bin/python3
"""Real checkpoint clients, as their frameworks lay out and write files.

Each KIND trains the same tiny PyTorch model deterministically and saves
the way that framework does:

  torch      ckpt_step_N.pt through torch.save to a temp file and os.replace
  hf         checkpoint-N/ (model, optimizer, trainer_state.json, rng_state.pth),
             written as tmp-checkpoint-N/ and renamed; older ones rotated away
  deepspeed  global_stepN/mp_rank_00_model_states.pt and ..._optim_states.pt,
             then `latest` rewritten in place with the folder's name
  megatron   iter_000000N/mp_rank_00/model_optim_rng.pt, then
             latest_checkpointed_iteration.txt rewritten in place
  lightning  epoch=0-step=N.ckpt, then last.ckpt as a symlink to it

  clients.py run KIND OUT STEPS      save STEPS checkpoints under OUT; print one
                                     "STEP RELPATH SHA256" line per file as saved,
                                     then "FINAL HASH": the weights after two more
                                     steps, trained on without saving
  clients.py resume KIND DIR         load the newest checkpoint under DIR the way
                                     the framework finds it, train two steps, print
                                     "FINAL HASH"
  clients.py verify ROOT DIR < LINES each "STEP RELPATH SHA256": ROOT/@step-STEP/DIR/RELPATH
                                     must have that hash (STEP "latest": the last such
                                     line of RELPATH, at ROOT/@latest/DIR); prints what differs
"""
import hashlib
import io
import json
import os
import shutil
import sys

import torch


def sha(data):
    return hashlib.sha256(data).hexdigest()


def model_and_optimizer():
    torch.manual_seed(7)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, 4))
    return model, torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


def train_step(model, opt, step):
    g = torch.Generator().manual_seed(1000 + step)  # the data of a step depends on the step only
    x = torch.randn(8, 16, generator=g)
    y = torch.randn(8, 4, generator=g)
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()


def weights_hash(model):
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def serialized(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


class Saver:
    """Writes files under OUT and records the hash of each as saved."""

    def __init__(self, out):
        self.out = out
        self.lines = []

    def write(self, step, rel, data, tmp=None, in_place=False):
        path = os.path.join(self.out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if tmp:  # write aside, then rename over: the atomic save
            tmp_path = os.path.join(self.out, tmp)
            with open(tmp_path, "wb") as f:
                f.write(data)
            os.replace(tmp_path, path)
        else:  # in place: open, truncate, write (a `latest` pointer)
            with open(path, "wb") as f:
                f.write(data)
        # A pointer rewritten in place is checked at @latest, as last written.
        self.lines.append(f"{'latest' if in_place else step} {rel} {sha(data)}")


def save(kind, saver, step, model, opt):
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step}
    if kind == "torch":
        saver.write(step, f"ckpt_step_{step}.pt", serialized(state), tmp=f"ckpt_step_{step}.pt.tmp")
    elif kind == "hf":
        tmp_dir = os.path.join(saver.out, f"tmp-checkpoint-{step}")
        os.makedirs(tmp_dir)
        files = {
            "pytorch_model.bin": serialized(model.state_dict()),
            "optimizer.pt": serialized(opt.state_dict()),
            "trainer_state.json": json.dumps({"global_step": step}).encode(),
            "rng_state.pth": serialized({"cpu": torch.get_rng_state()}),
        }
        for name, data in files.items():
            with open(os.path.join(tmp_dir, name), "wb") as f:
                f.write(data)
        os.rename(tmp_dir, os.path.join(saver.out, f"checkpoint-{step}"))
        for name, data in files.items():
            saver.lines.append(f"{step} checkpoint-{step}/{name} {sha(data)}")
        old = os.path.join(saver.out, f"checkpoint-{step - 2}")  # save_total_limit=2
        if os.path.isdir(old):
            shutil.rmtree(old)
    elif kind == "deepspeed":
        tag = f"global_step{step}"
        saver.write(step, f"{tag}/mp_rank_00_model_states.pt", serialized({"module": model.state_dict(), "step": step}))
        saver.write(step, f"{tag}/zero_pp_rank_0_mp_rank_00_optim_states.pt",
                    serialized({"optimizer_state_dict": opt.state_dict()}))
        saver.write(step, "latest", tag.encode(), in_place=True)
    elif kind == "megatron":
        it = f"iter_{step:07d}"
        saver.write(step, f"{it}/mp_rank_00/model_optim_rng.pt", serialized(state))
        saver.write(step, "latest_checkpointed_iteration.txt", str(step).encode(), in_place=True)
    elif kind == "lightning":
        name = f"epoch=0-step={step}.ckpt"
        saver.write(step, name, serialized({"state_dict": model.state_dict(), "optimizer_states": [opt.state_dict()],
                                            "global_step": step}))
        link = os.path.join(saver.out, "last.ckpt")
        tmp = link + ".tmp"
        os.symlink(name, tmp)
        os.replace(tmp, link)
    else:
        raise SystemExit(f"unknown kind {kind}")


def load_latest(kind, d):
    """The newest checkpoint under `d`, found as the framework finds it: (model, opt, step)."""
    model, opt = model_and_optimizer()
    if kind == "torch":
        step = max(int(n[len("ckpt_step_"):-3]) for n in os.listdir(d) if n.startswith("ckpt_step_") and n.endswith(".pt"))
        state = torch.load(os.path.join(d, f"ckpt_step_{step}.pt"))
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
    elif kind == "hf":
        step = max(int(n.split("-")[1]) for n in os.listdir(d) if n.startswith("checkpoint-"))
        c = os.path.join(d, f"checkpoint-{step}")
        model.load_state_dict(torch.load(os.path.join(c, "pytorch_model.bin")))
        opt.load_state_dict(torch.load(os.path.join(c, "optimizer.pt")))
        assert json.load(open(os.path.join(c, "trainer_state.json")))["global_step"] == step
    elif kind == "deepspeed":
        tag = open(os.path.join(d, "latest")).read().strip()
        step = int(tag[len("global_step"):])
        model.load_state_dict(torch.load(os.path.join(d, tag, "mp_rank_00_model_states.pt"))["module"])
        opt.load_state_dict(torch.load(os.path.join(d, tag, "zero_pp_rank_0_mp_rank_00_optim_states.pt"))["optimizer_state_dict"])
    elif kind == "megatron":
        step = int(open(os.path.join(d, "latest_checkpointed_iteration.txt")).read().strip())
        state = torch.load(os.path.join(d, f"iter_{step:07d}", "mp_rank_00", "model_optim_rng.pt"))
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
    elif kind == "lightning":
        link = os.path.join(d, "last.ckpt")
        assert os.path.islink(link), "last.ckpt is not a symlink"
        state = torch.load(link)
        step = state["global_step"]
        model.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer_states"][0])
    else:
        raise SystemExit(f"unknown kind {kind}")
    return model, opt, step


def main(argv):
    cmd = argv[1]
    if cmd == "run":
        kind, out, steps = argv[2], argv[3], int(argv[4])
        os.makedirs(out, exist_ok=True)
        model, opt = model_and_optimizer()
        saver = Saver(out)
        for step in range(1, steps + 1):
            train_step(model, opt, step)
            save(kind, saver, step, model, opt)
        for step in range(steps + 1, steps + 3):
            train_step(model, opt, step)
        print("\n".join(saver.lines))
        print("FINAL", weights_hash(model))
    elif cmd == "resume":
        kind, d = argv[2], argv[3]
        model, opt, step = load_latest(kind, d)
        for s in range(step + 1, step + 3):
            train_step(model, opt, s)
        print("FINAL", weights_hash(model))
    elif cmd == "verify":
        root, prefix = argv[2], argv[3]
        bad = 0
        checks, pointers = [], {}
        for line in sys.stdin:
            parts = line.split()
            if len(parts) != 3 or parts[0] == "FINAL":
                continue
            if parts[0] == "latest":
                pointers[parts[1]] = parts
            else:
                checks.append(parts)
        for step, rel, want in checks + list(pointers.values()):
            where = "@latest" if step == "latest" else f"@step-{step}"
            path = os.path.join(root, where, prefix, rel)
            try:
                got = sha(open(path, "rb").read())
            except OSError as e:
                got = f"unreadable ({e.strerror})"
            if got != want:
                bad += 1
                print(f"{where}/{prefix}/{rel}: {got}, saved {want}")
        return 1 if bad else 0
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
