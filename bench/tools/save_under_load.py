# bench/README.md, "Row 8 with OpenBLAS" (#22):
#   save_under_load.py DIR1,DIR2,... REPS [SHELL COMMAND RUN BEFORE EACH SAVE]
# Saves a trainer-like checkpoint (model 70 MB, optimizer 140 MB, three small
# files; tmp then rename) into each target dir in turn; prints medians.
import os, sys, time, torch, json, subprocess
targets = sys.argv[1].split(',')
reps = int(sys.argv[2])
wait = sys.argv[3] if len(sys.argv) > 3 else ''
torch.manual_seed(0)
times = {t: [] for t in targets}
def atomically(fn, path):
    fn(path + '.tmp'); os.rename(path + '.tmp', path)
for r in range(reps):
    for k in range(len(targets)):
        t = targets[(r + k) % len(targets)]
        model = {f'm{i}': torch.randn(256 * 1024) for i in range(68)}
        opt = {f'o{i}': torch.randn(512 * 1024) for i in range(68)}
        if wait: subprocess.run(wait, shell=True)
        d = os.path.join(t, 'step_%08d' % r)
        t0 = time.monotonic()
        os.makedirs(d)
        atomically(lambda p: torch.save(model, p), d + '/model.pt')
        atomically(lambda p: torch.save(opt, p), d + '/optimizer.pt')
        atomically(lambda p: torch.save([torch.get_rng_state()], p), d + '/rng.pt')
        atomically(lambda p: torch.save(torch.tensor([r, 0, 0]), p), d + '/position.pt')
        atomically(lambda p: open(p, 'w').write(json.dumps({'step': r}) * 100), d + '/trainer_state.json')
        times[t].append(time.monotonic() - t0)
for t in targets:
    v = sorted(times[t]); print(t, 'median %.3f' % v[len(v)//2], ' '.join('%.3f' % x for x in times[t]))
