# SPDX-License-Identifier: MIT
"""A video recording on a staff stick, at an office PC whose collect does not
import video yet (docs/video.md, "The office PC").

A box's data folder is seeded with three sound recordings (diaryroom-seed);
one of them is made a video in the box's catalogue (media 'video', its
sealed file renamed <id>.mkv.sealed: the box exports by the catalogue, and
the bytes and hash are unchanged). The box's export (diaryroom-stick
insert) writes it as <id>.mkv.sealed with "media": "video" in the version-3
manifest; collect says it does not import video yet, imports the others,
and its receipt does not hold the video, so the box keeps it while deleting
the other two. Nothing of the video is filed in the archive as sound.

About 10 s (Argon2id for each passphrase use)."""
import json
import os
import sqlite3

from drtest import run
from test_stick_sealed import World, admin


def test_video_stays_on_the_box():
    w = World("collectvideo")
    ids = w.seed("1,1,1", "yes/no")
    video = ids[1]
    os.rename(w.path(video), os.path.join(w.data, "recordings", video + ".mkv.sealed"))
    db = sqlite3.connect(f"{w.data}/catalogue.sqlite")
    with db:
        db.execute("UPDATE recordings SET media = 'video' WHERE id = ?", (video,))
    db.close()

    rc, _ = w.insert()
    assert rc == 0
    files = sorted(os.listdir(w.devdir()))
    assert video + ".mkv.sealed" in files, files
    assert video + ".opus.sealed" not in files, files
    shown = json.loads(admin("manifest", "--org", w.org, "--stick", w.stick).stdout)
    recs = {r["id"]: r for r in next(iter(shown.values()))["recordings"]}
    assert recs[video]["media"] == "video" and recs[video]["file"] == video + ".mkv.sealed"
    assert all(recs[i]["media"] == "audio" for i in ids if i != video)

    p = w.collect()
    assert p.returncode == 1, p.stderr
    assert f"{video}.mkv.sealed: a video recording: this diaryroom-admin does not import " \
           "video yet" in p.stderr, p.stderr
    got = w.archive_files()
    assert not [f for f in got if video in f], got
    for i in ids:
        if i != video:
            assert any(f.endswith(i + ".opus.sealed") for f in got), (i, got)

    # the receipt goes back: the box deletes the two it is confirmed for and
    # keeps the video
    rc, _ = w.insert()
    assert rc == 0
    rows = w.rows()
    assert rows[video]["state"] in ("complete", "interrupted"), rows[video]
    assert os.path.exists(os.path.join(w.data, "recordings", video + ".mkv.sealed"))
    for i in ids:
        if i != video:
            assert not os.path.exists(w.path(i)), i


if __name__ == "__main__":
    run([test_video_stays_on_the_box])
