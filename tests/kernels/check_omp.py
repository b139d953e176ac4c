#!/usr/bin/python3
"""check_omp.py SRCDIR: every `omp parallel for` loop in runtime/*.c writes no variable that was
declared outside the loop (OpenMP makes only the loop variable private; a shared counter
races). Exits 1 naming each offending loop."""
import glob
import os
import re
import sys

os.chdir(sys.argv[1] if len(sys.argv) > 1 else ".")
found = 0
for f in sorted(glob.glob('runtime/*.c')):
    src=open(f).read().split('\n')
    for i,l in enumerate(src):
        if 'omp parallel for' not in l: continue
        fs=max(k for k in range(i) if src[k].startswith('static') or src[k].startswith('{'))
        decls=set()
        for k in range(fs,i):
            m=re.match(r'^\t(k_idx|int|float|size_t|int64_t|double)\s+(.*);\s*$',src[k])
            if m:
                for part in m.group(2).split(','):
                    name=re.sub(r'[=\[].*','',part).strip().lstrip('*').strip()
                    if re.match(r'^[A-Za-z_]\w*$',name): decls.add(name)
        lv=re.search(r'for \((\w+) =',src[i+1]); lv=lv.group(1) if lv else None
        ind=len(src[i+1])-len(src[i+1].lstrip('\t'))
        body=[]
        for k in range(i+2,min(i+120,len(src))):
            if src[k].strip()=='': continue
            if len(src[k])-len(src[k].lstrip('\t'))<=ind: break
            body.append(src[k])
        text='\n'.join(body)
        bad=sorted(d for d in decls if d!=lv and (re.search(r'\b'+d+r'\s*(=[^=]|\+\+|--|\+=|-=|\*=)',text) or re.search(r'for \('+d+r'\b',text)))
        if bad:
            found = 1
            print("%s:%d: the parallel loop over %s writes shared %s" % (f, i + 1, lv, ", ".join(bad)))
sys.exit(found)
