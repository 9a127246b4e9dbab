import { describe, expect, it } from 'vitest'
import { parsePlaceholders, renderText } from '../../src/shared/texts/placeholders.ts'

const errorsOf = (text: string) => {
  const result = parsePlaceholders(text)
  return result.ok ? [] : result.errors
}

describe('parsePlaceholders', () => {
  it('a text without placeholders is one literal part', () => {
    expect(parsePlaceholders('Hello { there }, {single} braces')).toEqual({
      ok: true,
      parts: [{ kind: 'text', text: 'Hello { there }, {single} braces' }],
    })
  })

  it('reads the three keys, with an optional fallback and spaces inside the braces', () => {
    const result = parsePlaceholders('Hi {{first_name}}! {{ name | friend }} in {{zipcode|Detroit}}')
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.parts.filter((p) => p.kind === 'placeholder')).toEqual([
      { kind: 'placeholder', key: 'first_name', fallback: null, position: 4, source: '{{first_name}}' },
      { kind: 'placeholder', key: 'name', fallback: 'friend', position: 20, source: '{{ name | friend }}' },
      { kind: 'placeholder', key: 'zipcode', fallback: 'Detroit', position: 43, source: '{{zipcode|Detroit}}' },
    ])
  })

  it('names an unknown placeholder and its position', () => {
    expect(errorsOf('Hi {{frist_name}}, ok')).toEqual([{
      position: 4,
      placeholder: '{{frist_name}}',
      message: 'unknown placeholder {{frist_name}} at character 4; known: {{name}}, {{first_name}}, {{zipcode}}',
    }])
  })

  it('positions count characters, not UTF-16 units (an emoji before it is one character)', () => {
    expect(errorsOf('👍 {{nme}}')[0]!.position).toBe(3)
  })

  it('an unclosed {{ is an error, also when another placeholder follows', () => {
    expect(errorsOf('Hi {{first_name, how are you')).toMatchObject([
      { position: 4, message: 'unclosed "{{" at character 4: close it with "}}"' },
    ])
    expect(errorsOf('Hi {{first_name and {{zipcode}}')).toMatchObject([{ position: 4 }])
  })

  it('an empty placeholder, an empty or multi-line fallback are errors', () => {
    expect(errorsOf('a {{}} b')[0]!.message).toMatch(/^empty placeholder \{\{\}\} at character 3/)
    expect(errorsOf('a {{name|}} b')[0]!.message).toMatch(/invalid fallback/)
    expect(errorsOf('a {{name|x|y}} b')[0]!.message).toMatch(/invalid fallback/)
    expect(errorsOf(`a {{name|${'x'.repeat(41)}}} b`)[0]!.message).toMatch(/invalid fallback/)
  })

  it('a placeholder inside a link cannot be filled per person (links are shortened once)', () => {
    expect(errorsOf('See https://example.org/r?zip={{zipcode}} now')).toMatchObject([
      { position: 31, placeholder: '{{zipcode}}', message: expect.stringContaining('inside a link') },
    ])
    expect(errorsOf('See https://example.org/ {{zipcode}}')).toEqual([])
  })

  it('reports every problem, in order', () => {
    expect(errorsOf('{{a}} {{name}} {{b}}').map((e) => e.position)).toEqual([1, 16])
  })

  it('key names are exact (no capitals)', () => {
    expect(errorsOf('{{Name}}')).toHaveLength(1)
  })
})

describe('renderText', () => {
  const ana = { name: 'Ana  María Pérez ', zipcode: ' 48201 ' }

  it('fills each placeholder from the recipient row; first_name is the first word of name', () => {
    expect(renderText('Hi {{first_name}} ({{name}}), news for {{zipcode}}.', ana))
      .toBe('Hi Ana (Ana María Pérez), news for 48201.')
  })

  it('uses the fallback when the value is missing or blank', () => {
    expect(renderText('Hi {{first_name|neighbor}}!', { name: '  ', zipcode: null })).toBe('Hi neighbor!')
    expect(renderText('Hi {{first_name|neighbor}}!', null)).toBe('Hi neighbor!')
  })

  it('without a fallback the placeholder drops out and the spacing is tidied', () => {
    const nobody = { name: null, zipcode: null }
    expect(renderText('Hi {{first_name}}, how are you?', nobody)).toBe('Hi, how are you?')
    expect(renderText('Hi {{first_name}}!', nobody)).toBe('Hi!')
    expect(renderText('Hi {{first_name}} and welcome', nobody)).toBe('Hi and welcome')
    expect(renderText('Thanks {{first_name}}', nobody)).toBe('Thanks')
    expect(renderText('{{first_name}}, we have news', nobody)).toBe('we have news')
    expect(renderText('Hello.\n{{first_name}}, news', nobody)).toBe('Hello.\nnews')
    expect(renderText('Hi {{first_name}}.\nBye', nobody)).toBe('Hi.\nBye')
    expect(renderText('Thanks, {{first_name}}!', nobody)).toBe('Thanks!')
    expect(renderText('Reply YES, {{first_name}}', nobody)).toBe('Reply YES')
    expect(renderText('Hi,{{first_name}} there', nobody)).toBe('Hi, there')
  })

  it('a text without placeholders is returned unchanged, spacing and all', () => {
    const text = '  Hello   there , {not one}  '
    expect(renderText(text, ana)).toBe(text)
  })

  it('a value is inserted literally (no placeholder inside a name is expanded)', () => {
    expect(renderText('Hi {{name}}', { name: '{{zipcode}} $1 $&', zipcode: '1' })).toBe('Hi {{zipcode}} $1 $&')
  })
})
