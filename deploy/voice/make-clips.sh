#!/usr/bin/env bash
# Generates the voice clips of the edge node's announcer (edge/src/devices/voice.rs).
set -eu

usage() {
    cat <<'USAGE'
Usage: make-clips.sh OUTDIR
       make-clips.sh --list

Writes one <name>.wav per clip that the announcer can need into OUTDIR (created if missing):
mono, 16-bit, 22050 Hz, leading and trailing silence trimmed.
  - Mandarin words and digits: espeak-ng's cmn-latn-pinyin voice, from pinyin with tone numbers;
    letters are read in the Chinese way of naming Latin letters.
  - English words, letters and numbers: espeak-ng's en voice.
  - chime.wav: two short sine tones (880 Hz, then 660 Hz) synthesised with sox.

--list prints the clip names, one a line, and needs neither tool. The list must match
voice::all_clips() in the edge crate (its tests check both).

Needs espeak-ng and sox (Debian: apt-get install espeak-ng sox).
USAGE
}

RATE=22050

# One clip a line: name, voice, text (tab-separated). Keep in sync with voice::all_clips().
clip_table() {
    tab=$(printf '\t')
    printf 'chime%ssox%s-\n' "$tab" "$tab"
    for entry in zh-qing:qing3 zh-hao:hao4 zh-dao:dao4 zh-chuangkou:"chuang1 kou3" \
        zh-banli:"ban4 li3" zh-shi:shi2 zh-0:ling2 zh-1:yi1 zh-2:er4 zh-3:san1 zh-4:si4 \
        zh-5:wu3 zh-6:liu4 zh-7:qi1 zh-8:ba1 zh-9:jiu3; do
        printf '%s%scmn-latn-pinyin%s%s\n' "${entry%%:*}" "$tab" "$tab" "${entry#*:}"
    done
    for letter in A B C D E F G H I J K L M N O P Q R S T U V W X Y Z; do
        printf 'zh-%s%scmn-latn-pinyin%s%s\n' "$letter" "$tab" "$tab" "$letter"
    done
    printf 'en-number%sen%sNumber\n' "$tab" "$tab"
    printf 'en-please-go-to-window%sen%splease go to window\n' "$tab" "$tab"
    for n in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 30 40 50 60 70 80 90; do
        printf 'en-%s%sen%s%s\n' "$n" "$tab" "$tab" "$n"
    done
    for letter in A B C D E F G H I J K L M N O P Q R S T U V W X Y Z; do
        printf 'en-%s%sen%s%s\n' "$letter" "$tab" "$tab" "$letter"
    done
}

case "${1:-}" in
    -h | --help)
        usage
        exit 0
        ;;
    --list)
        clip_table | cut -f1
        exit 0
        ;;
    "" | -*)
        usage >&2
        exit 2
        ;;
esac
[ $# -eq 1 ] || { usage >&2; exit 2; }
OUTDIR=$1

missing=""
command -v espeak-ng >/dev/null 2>&1 || missing="$missing espeak-ng"
command -v sox >/dev/null 2>&1 || missing="$missing sox"
if [ -n "$missing" ]; then
    echo "make-clips.sh: missing:$missing (Debian packages:$missing; apt-get install -y$missing)" >&2
    exit 1
fi

mkdir -p "$OUTDIR"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Mono, 16-bit, $RATE Hz, leading and trailing silence trimmed. The threshold (0.2%) is low
# enough to keep quiet fricatives, such as the f of "ef".
to_clip() {
    sox "$1" -r "$RATE" -c 1 -b 16 -e signed-integer "$2" \
        silence 1 0.02 0.2% reverse silence 1 0.02 0.2% reverse
}

count=0
tab=$(printf '\t')
clip_table > "$work/table"
while IFS="$tab" read -r name voice text; do
    out="$OUTDIR/$name.wav"
    if [ "$voice" = sox ]; then
        sox -n -r "$RATE" -c 1 -b 16 -e signed-integer "$work/hi.wav" \
            synth 0.28 sine 880 fade q 0.01 0.28 0.2 vol 0.5
        sox -n -r "$RATE" -c 1 -b 16 -e signed-integer "$work/lo.wav" \
            synth 0.45 sine 660 fade q 0.01 0.45 0.35 vol 0.5
        sox "$work/hi.wav" "$work/lo.wav" "$out"
    else
        if ! espeak-ng -v "$voice" -w "$work/raw.wav" "$text"; then
            echo "make-clips.sh: espeak-ng failed for clip $name (voice $voice, text \"$text\")" >&2
            exit 1
        fi
        to_clip "$work/raw.wav" "$out"
    fi
    count=$((count + 1))
done < "$work/table"
echo "make-clips.sh: wrote $count clips to $OUTDIR"
